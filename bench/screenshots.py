"""The documentation's MLflow UI screenshots, taken in headless Chromium from recorded runs.

    pip install -e ".[bench]"          # playwright; Chromium from the system (Debian: chromium)
    python bench/screenshots.py --store runs-bench --sweep-store runs-tune \
        --study dqn-cartpole-defaults

Starts `mlflow ui` on loopback for each store and saves, under docs/img/:
- mlflow-compare-runs.png: the `bench-cartpole` experiment (bench/against_sb3.py) in the
  runs page's chart view, charts narrowed to the greedy eval return;
- mlflow-sweep-parallel-coordinates.png: the study's complete trials (their first seed's
  runs) on the compare page, the searched params against `eval/best_return_mean`.

MLflow 3's UI opens in its GenAI layout unless the sidebar switch says Model training;
the pages are opened with `?workflowType=machine_learning`, which sets that switch.
"""

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from common import stop_on_sigterm, store_uri
from mlflow.tracking import MlflowClient
from playwright.sync_api import Page, sync_playwright

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
TRAINING_LAYOUT = "workflowType=machine_learning"
# Close the assistant panel MLflow opens on a first visit: it would cover the charts.
CLOSED_ASSISTANT = (
    "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
    "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
)


@contextlib.contextmanager
def mlflow_ui(store: Path) -> Iterator[str]:
    """`mlflow ui` on a free loopback port for `store`; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store_uri(store)]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            time.sleep(1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def open_page(page: Page, url: str, ready: str) -> None:
    """Go to `url` and wait until the text `ready` shows (the UI keeps polling its server,
    so the network never goes idle), then a little more for the charts to draw."""
    page.goto(url)
    page.get_by_text(ready).first.wait_for(timeout=120_000)
    page.wait_for_timeout(5000)


def compare_runs_shot(page: Page, base: str, store: Path, output: Path) -> None:
    client = MlflowClient(store_uri(store))
    experiment = client.get_experiment_by_name("bench-cartpole")
    query = f"{TRAINING_LAYOUT}&compareRunsMode=CHART"
    open_page(page, f"{base}/#/experiments/{experiment.experiment_id}/runs?{query}", "eval")
    page.get_by_placeholder("Search metric charts").fill("^eval/return_mean$")
    page.wait_for_timeout(3000)
    page.screenshot(path=output)


def parallel_coordinates_shot(page: Page, base: str, store: Path, study: str, output: Path) -> None:
    client = MlflowClient(store_uri(store))
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.`optuna.study` = '{study}' and tags.`optuna.state` = 'COMPLETE' "
        "and tags.`optuna.seed_index` = '0'",
    )
    searched = [key for key in searched_keys(client, study) if key in runs[0].data.params]
    ids = json.dumps([run.info.run_id for run in runs])
    experiments = json.dumps(sorted({run.info.experiment_id for run in runs}))
    query = f"runs={urllib.parse.quote(ids)}&experiments={urllib.parse.quote(experiments)}"
    open_page(page, f"{base}/#/compare-runs?{query}&{TRAINING_LAYOUT}", "Parallel Coordinates")
    # The page starts with the first three params (alphabetically) and one metric picked.
    params, metrics = (page.locator("div[class*='-select-multiple']").nth(i) for i in (0, 1))
    for remove in metrics.locator("span[class$='-select-selection-item-remove']").all():
        remove.click()
    for picker, names in ((params, searched), (metrics, ["eval/best_return_mean"])):
        chosen = picker.locator("span[class$='-select-selection-item-content']").all_inner_texts()
        for name in names:
            if name not in chosen:
                picker.locator("span[class$='-select-arrow']").click(force=True)  # opens it
                page.keyboard.type(name)  # filters the (virtual) list of options
                page.locator(f"div[class*='-select-item-option'][title='{name}']").click()
        page.keyboard.press("Escape")
    page.wait_for_timeout(3000)
    page.screenshot(path=output, clip={"x": 0, "y": 0, "width": 1500, "height": 640})


def searched_keys(client: MlflowClient, study: str) -> list[str]:
    """The study's searched keys, as its parent run recorded them (`space.<key>` params)."""
    (parent,) = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.`optuna.study` = '{study}' and tags.`optuna.role` = 'study'",
    )
    return sorted(k.removeprefix("space.") for k in parent.data.params if k.startswith("space."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="bench/against_sb3.py's store")
    parser.add_argument("--sweep-store", type=Path, required=True, help="the sweep's store")
    parser.add_argument("--study", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    stop_on_sigterm()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium)
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        context.add_init_script(CLOSED_ASSISTANT)
        page = context.new_page()
        with mlflow_ui(args.store) as base:
            compare_runs_shot(page, base, args.store, IMG / "mlflow-compare-runs.png")
        with mlflow_ui(args.sweep_store) as base:
            output = IMG / "mlflow-sweep-parallel-coordinates.png"
            parallel_coordinates_shot(page, base, args.sweep_store, args.study, output)
        browser.close()
    print(f"wrote {IMG / 'mlflow-compare-runs.png'} and {output}")


if __name__ == "__main__":
    main()
