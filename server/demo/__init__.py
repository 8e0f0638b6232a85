"""`rigorlab demo` steps: step_<NN>_<family>.py modules, run in name order."""
