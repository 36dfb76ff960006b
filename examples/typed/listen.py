"""The Listener, both ways (type-checked with ``mypy --strict``; not run)."""
from __future__ import annotations

from psqlpy import Connection, ConnectionPool, Listener, ListenerNotificationMsg
from psqlpy.exceptions import ListenerStartError


async def on_event(connection: Connection, payload: str, channel: str, process_id: int) -> None:
    await connection.execute("INSERT INTO events VALUES ($1, $2)", [channel, payload])


async def run(pool: ConnectionPool) -> list[str]:
    listener: Listener = pool.listener()
    await listener.add_callback("events", on_event)
    await listener.startup()
    listener.listen()
    listener.abort_listen()
    got: list[str] = []
    msg: ListenerNotificationMsg
    async for msg in listener:
        got.append(f"{msg.channel}:{msg.payload} from {msg.process_id}")
        if len(got) == 10:
            break
    try:
        listener.connection
    except ListenerStartError:
        pass
    await listener.clear_channel_callbacks("events")
    await listener.clear_all_channels()
    await listener.shutdown()
    return got
