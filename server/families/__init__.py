"""One module per tool family; each defines `register(app, ctx)`.

Modules are discovered by name, so adding a family touches no other file. A family module
imports only light things at top level (pydantic models, typing); the work it calls is
imported inside the tool functions, so the server answers its first message fast.
"""
