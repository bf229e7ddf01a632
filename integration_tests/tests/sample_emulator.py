"""A minimal emulator used only to test the kit itself."""

from emulators.server import Emulator, HttpError, Request, Response, route


class SampleEmulator(Emulator):
    name = "sample"
    limits = {"items": 5, "search": 2}
    TOKEN = "good-token"

    def __init__(self, seed: int = 0, size: int = 10) -> None:
        super().__init__(seed, size)
        self.items = [{"id": i, "name": f"item {i}"} for i in range(size)]

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.TOKEN}":
            return Response(401, {"error": "bad token"})
        return None

    def rate_limited(self, family: str, wait_seconds: float) -> Response:
        return Response(429, {"error": "slow down"}, {"Retry-After": f"{wait_seconds:.3f}"})

    @route("GET", "/items", "items")
    def list_items(self, request: Request):
        offset, limit = int(request.query.get("offset", 0)), int(request.query.get("limit", 3))
        return self.items[offset : offset + limit]

    @route("GET", "/items/{item_id}", "items")
    def get_item(self, request: Request):
        item_id = int(request.params["item_id"])
        if item_id >= len(self.items):
            raise HttpError(404, {"error": f"no item {item_id}"})
        return self.items[item_id]

    @route("POST", "/search", "search")
    def search(self, request: Request):
        text = request.json().get("text", "")
        return [item for item in self.items if text in item["name"]]

    @route("GET", "/boom", "items")
    def boom(self, request: Request):
        raise RuntimeError("a bug in the emulator")


EMULATOR = SampleEmulator


class SharedQuotaEmulator(SampleEmulator):
    """The sample API with one quota for /items and /search, reported in headers on every answer."""

    name = "shared-quota"
    limits = {"all": 4}

    def bucket(self, family: str) -> str:
        return "all"

    def quota_headers(self, limit: int | None, remaining: int | None) -> dict[str, str]:
        if limit is None:
            return {}
        return {"X-Quota-Limit": str(limit), "X-Quota-Remaining": str(remaining)}
