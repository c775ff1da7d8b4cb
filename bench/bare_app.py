"""The ceiling: a bare FastAPI app with one constant route, nothing else.

`make bench` serves it with the same uvicorn settings as the service and
reports every row of the table as a ratio of its throughput.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}
