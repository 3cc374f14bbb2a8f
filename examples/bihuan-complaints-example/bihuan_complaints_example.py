"""A bihuan collector for an in-house complaint system's JSON API (see README.md)."""

from collections.abc import Callable, Iterator
from datetime import datetime

from bihuan.core.collector import CollectorConfig, CollectorOutput, RunContext
from bihuan.core.errors import RecordError
from bihuan.core.types import BadRecord, Checkpoint, Item
from bihuan.plugins import hookimpl
from pydantic import SecretStr


class InHouseComplaints:
    class Config(CollectorConfig):  # the keys of its [collectors.<instance>] table
        url: str  # the API's base URL
        token: SecretStr  # token = { "$env" = "COMPLAINTS_TOKEN" }: never in plugins.toml, logs or runs

    name, channel = "inhouse_complaints", "ticket"  # collector = "inhouse_complaints" in plugins.toml

    def check(self, ctx: RunContext) -> None:
        self.page(ctx, after=0)  # a refused token raises AuthError, a wrong URL CollectorConfigError

    def collect(self, ctx: RunContext, state: dict | None) -> Iterator[CollectorOutput]:
        after = (state or {}).get("after", 0)
        while records := self.page(ctx, after):  # GET /complaints?after=<id>: the next page, in id order
            for raw in records:
                try:
                    yield self.parse_record(ctx, raw)
                except RecordError as exc:
                    yield BadRecord(raw, exc.reason, f"complaint {raw['id']}", exc.field, str(raw["id"]))
            yield Checkpoint({"after": (after := records[-1]["id"])})  # commits what was yielded, with this state

    def parse_record(self, ctx: RunContext, raw: dict) -> Item:  # also `bihuan quarantine retry`
        if not str(raw.get("text") or "").strip():
            raise RecordError("the complaint has no text", field="text")
        try:
            created = datetime.fromisoformat(raw["created_at"])
        except (KeyError, TypeError, ValueError):
            raise RecordError(f"created_at {raw.get('created_at')!r} is not a time", field="created_at") from None
        return Item(str(raw["id"]), raw["text"], created.replace(tzinfo=created.tzinfo or ctx.timezone))

    def page(self, ctx: RunContext, after: int) -> list[dict]:
        auth = {"Authorization": f"Bearer {ctx.config.token.get_secret_value()}"}
        return ctx.http.get_json(f"{ctx.config.url}/complaints", params={"after": after}, headers=auth)[0]["complaints"]


@hookimpl
def register_collectors(register: Callable[[type], None]) -> None:
    register(InHouseComplaints)
