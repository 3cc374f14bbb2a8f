"""The collector in docs/plugins.md works as printed: registered, run, resumed, quarantined."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

from sqlalchemy import Engine

from bihuan.core.collection import build_instance, run_instances
from bihuan.core.config import GeneralSettings
from bihuan.plugins.manager import BihuanPluginManager, pipeline_hooks
from bihuan.storage import queries
from bihuan.storage.engine import session_scope

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def guide_module() -> types.ModuleType:
    source = re.search(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert source is not None, "docs/plugins.md has a python example"
    module = types.ModuleType("acme_bihuan")
    exec(compile(source.group(1), str(GUIDE), "exec"), module.__dict__)
    return module


def test_the_guide_collector_is_short() -> None:
    source = re.search(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert source is not None
    assert len(source.group(1).strip().splitlines()) < 50


def test_the_guide_collector_runs_through_the_pipeline(
    tmp_path: Path, engine: Engine, pm: BihuanPluginManager, register_plugin
) -> None:
    register_plugin(guide_module(), name="acme")
    registry = {name: entry.cls for name, entry in pm.collectors().items()}
    assert pm.collectors()["acme_complaints"].plugin == "acme"

    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "1.json").write_text(json.dumps({"id": 1, "ts": 1790000000, "body": "柜台等了两小时，电话13812345678"}))
    (spool / "2.json").write_text(json.dumps({"id": 2, "ts": 1790000100, "body": ""}))
    instance = build_instance("acme", {"collector": "acme_complaints", "spool_dir": str(spool)}, registry)
    zone = GeneralSettings().zone

    [first] = run_instances([instance], engine=engine, timezone=zone, hooks=pipeline_hooks(pm))
    assert (first.new, first.quarantined, first.status) == (1, 1, "succeeded")

    (spool / "3.json").write_text(json.dumps({"id": 3, "ts": 1790000200, "body": "年费没有提前通知"}))
    [second] = run_instances([instance], engine=engine, timezone=zone, hooks=pipeline_hooks(pm))
    assert (second.read, second.new, second.quarantined) == (1, 1, 0), "resumed from the saved state"

    with session_scope(engine) as session:
        assert queries.count_items(session=session) == 2
        stored = queries.get_item(source="acme", external_id="1", session=session)
    assert stored is not None and "13812345678" not in stored.text and "[手机号]" in stored.text
