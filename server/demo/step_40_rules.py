"""Demo: the methodology rules are checked, not only recited."""
from __future__ import annotations

TITLE = "Rules: instruction file, protected evaluation, checks"
TOOLS = ("check_rules", "protect_evaluation", "dispatch_job")

METRIC = "def accuracy(y, p):\n    return sum(a == b for a, b in zip(y, p)) / len(y)\n"


async def run(demo) -> None:
    from rigorlab.rules.render import init_workspace
    ws = demo.workspace
    listed = (await demo.client.list_tools()).tools
    done = init_workspace(ws, "claude", tools={t.name: list(t.input_schema.get("properties", {}))
                                               for t in listed})
    demo.console.print("rigorlab init --tool claude (files only): "
                       + ", ".join(f"{k} {v}" for k, v in done.items()))
    prompt = await demo.client.get_prompt("setup_research_plan", {})
    demo.console.print("[dim]prompt setup_research_plan begins:[/] "
                       + prompt.messages[0].content.text.splitlines()[0])

    (ws / "eval").mkdir(exist_ok=True)
    metric = ws / "eval" / "metric.py"
    original = metric.read_text() if metric.exists() else METRIC
    metric.write_text(original)
    await demo.call("protect_evaluation", command="python eval/metric.py", files=["eval"])
    await demo.call("check_rules")

    demo.console.print("[bold]The agent edits the metric to look better:[/]")
    metric.write_text(original.replace("return", "return 1.0 or"))
    await demo.call("check_rules", rules=["II"])
    await demo.call("dispatch_job", _expect_error=True, command="python train.py", gpus=0,
                    experiment_id="E001")
    await demo.call("protect_evaluation", _expect_error=True, command="python eval/metric.py",
                    files=["eval"])
    metric.write_text(original)
    demo.console.print("restored eval/metric.py")
    await demo.call("check_rules", rules=["II"])
