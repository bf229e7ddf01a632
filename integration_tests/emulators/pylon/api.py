"""The Pylon REST API served from a generated workspace, with mutations for incremental tests."""

from __future__ import annotations

import functools
import html
import json
import math
import uuid
from datetime import datetime, timedelta, timezone

from ..fakedata import FakeData
from ..server import Emulator, HttpError, Request, Response, Route, route
from . import catalog
from .data import PylonData
from .paging import BadRequest, page, parse_limit, parse_time, sort_key
from .search import compile_filter
from .shapes import blank_issue, parse_iso, person_ref

# Pylon's documented limits, requests per minute, one family per endpoint.
LIMITS = {
    "me": 60,
    "issues_list": 10,
    "issues_search": 20,
    "issue_get": 60,
    "issue_messages": 20,
    "issue_threads": 20,
    "accounts": 60,
    "contacts": 60,
    "users": 60,
    "teams": 60,
    "tags": 60,
    "ticket_forms": 60,
    "user_roles": 60,
    "knowledge_bases": 60,
    "kb_articles": 20,
    "custom_fields": 60,
    "issue_statuses": 10,
    "activity_types": 10,
    "surveys": 60,
    "survey_responses": 60,
}
# Plain paginated lists: path -> (family, PylonData attribute).
SIMPLE_LISTS = {
    "/accounts": ("accounts", "accounts"),
    "/contacts": ("contacts", "contacts"),
    "/users": ("users", "users"),
    "/teams": ("teams", "teams"),
    "/tags": ("tags", "tags"),
    "/ticket-forms": ("ticket_forms", "ticket_forms"),
    "/user-roles": ("user_roles", "user_roles"),
    "/knowledge-bases": ("knowledge_bases", "knowledge_bases"),
    "/issue-statuses": ("issue_statuses", "issue_statuses"),
    "/activity-types": ("activity_types", "activity_types"),
    "/surveys": ("surveys", "surveys"),
}
MAX_LIST_WINDOW = timedelta(days=30)  # GET /issues rejects wider start_time..end_time windows
ADMIN = "/_emulator/pylon"
CUSTOM_FIELDS_FORMS = ("object", "array")


def request_id() -> str:
    return str(uuid.uuid4())


def errors(status: int, message: str) -> Response:
    return Response(status, {"errors": [message], "request_id": request_id()})


def endpoint(method: str, pattern: str, family: str):
    """@route plus what every Pylon endpoint shares: 403 for forbidden families, request ids on errors."""

    def wrap(func):
        @functools.wraps(func)
        def handler(self: PylonEmulator, request: Request):
            return self._call(family, lambda: func(self, request))

        return route(method, pattern, family)(handler)

    return wrap


TOKEN = "pylon-test-token"  # what tests and the demo authenticate with


class PylonEmulator(Emulator):
    name = "pylon"
    limits = LIMITS

    def __init__(
        self,
        seed: int = 0,
        size: int = 50,
        *,
        token: str = TOKEN,
        forbidden: set[str] | frozenset[str] = frozenset(),
        messages_per_issue: int | None = None,
        retry_after: bool = False,
        custom_fields_form: str = "object",
        paginate_issue_list: bool = True,
        page_cap: int | None = None,
        now: datetime | None = None,  # the data's "now" (default: a fixed day, so tests do not depend on it)
    ) -> None:
        super().__init__(seed, size)
        if custom_fields_form not in CUSTOM_FIELDS_FORMS:
            raise ValueError(f"custom_fields_form must be one of {CUSTOM_FIELDS_FORMS}")
        if page_cap is not None and page_cap < 1:
            raise ValueError("page_cap must be at least 1")
        unknown = set(forbidden) - set(LIMITS)
        if unknown:
            raise ValueError(f"unknown families in forbidden: {sorted(unknown)}")
        self.token = token
        self.forbidden = set(forbidden)
        self.retry_after = retry_after
        self.custom_fields_form = custom_fields_form
        self.paginate_issue_list = paginate_issue_list
        self.page_cap = page_cap
        self.data = PylonData(seed, size, messages_per_issue, now)
        self._issues_by_id = {issue["id"]: issue for issue in self.data.issues}
        self._high_water = max((parse_iso(i["updated_at"]) for i in self.data.issues), default=self.data.now)

    # -- the kit's hooks ---------------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return errors(401, "invalid or missing API token")
        return None

    def rate_limited(self, family: str, wait_seconds: float) -> Response:
        # Pylon documents no Retry-After; the option lets connectors be tested with and without it.
        headers = {"Retry-After": str(max(1, math.ceil(wait_seconds)))} if self.retry_after else {}
        return Response(429, {"errors": ["rate limit exceeded"], "request_id": request_id()}, headers)

    def error_body(self, status: int, message: str) -> dict:
        return {"errors": [message], "request_id": request_id()}

    def routes(self) -> list[Route]:
        lists = [
            Route("GET", path, family, functools.partial(self._simple_list, family, attr))
            for path, (family, attr) in SIMPLE_LISTS.items()
        ]
        return super().routes() + lists

    # -- shared plumbing ---------------------------------------------------------------------

    def _call(self, family: str, handler):
        if family in self.forbidden:
            return errors(403, f"this API token lacks the permission to access {family}")
        try:
            with self.lock:
                return handler()
        except HttpError as error:
            body = error.response.body
            if isinstance(body, dict) and "errors" in body:
                body.setdefault("request_id", request_id())
            raise

    def _public(self, record: dict) -> dict:
        # Stored nested values are replaced, never edited in place, so a shallow copy is safe
        # to encode after the lock is released.
        out = {k: v for k, v in record.items() if not k.startswith("_")}
        if self.custom_fields_form == "array" and isinstance(out.get("custom_fields"), dict):
            out["custom_fields"] = [dict(v, slug=slug) for slug, v in out["custom_fields"].items()]
        return out

    def _page(self, records: list[dict], cursor: str | None, limit) -> dict:
        chunk, last, more = page(records, cursor, parse_limit(limit), self.page_cap)
        return self._envelope(chunk, last, more)

    def _envelope(self, chunk: list[dict], cursor: str | None, more: bool) -> dict:
        if not chunk:  # Pylon drops data (and pagination) when nothing matches
            return {"request_id": request_id()}
        # The last page still carries a cursor: only has_next_page says the walk is over.
        return {
            "data": [self._public(r) for r in chunk],
            "pagination": {"cursor": cursor or "", "has_next_page": more},
            "request_id": request_id(),
        }

    def _simple_list(self, family: str, attr: str, request: Request):
        return self._call(
            family,
            lambda: self._page(getattr(self.data, attr), request.query.get("cursor"), request.query.get("limit")),
        )

    def _issue(self, key: str) -> dict:
        found = self._issues_by_id.get(key)
        if found is None and key.isdigit():
            found = next((i for i in self.data.issues if i["number"] == int(key)), None)
        if found is None:
            raise HttpError(404, {"errors": [f"issue {key} not found"]})
        return found

    # -- endpoints ---------------------------------------------------------------------------

    @endpoint("GET", "/me", "me")
    def me(self, request: Request):
        return {"data": dict(self.data.org), "request_id": request_id()}

    @endpoint("GET", "/issues", "issues_list")
    def list_issues(self, request: Request):
        if "start_time" not in request.query or "end_time" not in request.query:
            raise BadRequest("start_time and end_time are required")
        start = parse_time(request.query["start_time"], "start_time")
        end = parse_time(request.query["end_time"], "end_time")
        if end < start:
            raise BadRequest("end_time must not be before start_time")
        if end - start > MAX_LIST_WINDOW:
            raise BadRequest("the window between start_time and end_time must be 30 days or less")
        limit = parse_limit(request.query.get("limit"))
        # Half-open [start, end) on created_at, so consecutive windows neither overlap nor gap.
        found = [i for i in self.data.issues if start <= parse_iso(i["created_at"]) < end]
        if not self.paginate_issue_list:
            # The real endpoint may not paginate: then limit and cursor are accepted but ignored.
            return self._envelope(sorted(found, key=sort_key), None, False)
        return self._page(found, request.query.get("cursor"), limit)

    @endpoint("POST", "/issues/search", "issues_search")
    def search_issues(self, request: Request):
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise BadRequest(f"request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        # No filter means every issue: the reference never says the filter is required.
        matches = compile_filter(body["filter"]) if body.get("filter") is not None else (lambda _: True)
        found = [i for i in self.data.issues if matches(i)]
        return self._page(found, body.get("cursor"), body.get("limit"))

    @endpoint("GET", "/issues/{issue_id}", "issue_get")
    def get_issue(self, request: Request):
        return {"data": self._public(self._issue(request.params["issue_id"])), "request_id": request_id()}

    @endpoint("GET", "/issues/{issue_id}/messages", "issue_messages")
    def list_messages(self, request: Request):
        issue = self._issue(request.params["issue_id"])
        return self._page(self.data.messages[issue["id"]], request.query.get("cursor"), request.query.get("limit"))

    @endpoint("GET", "/issues/{issue_id}/threads", "issue_threads")
    def list_threads(self, request: Request):
        issue = self._issue(request.params["issue_id"])
        return self._page(self.data.threads[issue["id"]], request.query.get("cursor"), request.query.get("limit"))

    @endpoint("GET", "/custom-fields", "custom_fields")
    def list_custom_fields(self, request: Request):
        object_type = request.query.get("object_type")
        if object_type not in catalog.CUSTOM_FIELD_OBJECT_TYPES:
            raise BadRequest(f"object_type is required, one of {', '.join(catalog.CUSTOM_FIELD_OBJECT_TYPES)}")
        found = [f for f in self.data.custom_fields if f["object_type"] == object_type]
        return self._page(found, request.query.get("cursor"), request.query.get("limit"))

    @endpoint("GET", "/knowledge-bases/{kb_id}/articles", "kb_articles")
    def list_articles(self, request: Request):
        articles = self.data.articles.get(request.params["kb_id"])
        if articles is None:
            raise HttpError(404, {"errors": [f"knowledge base {request.params['kb_id']} not found"]})
        language = request.query.get("language")
        found = [a for a in articles if language in (None, a["_language"])]
        return self._page(found, request.query.get("cursor"), request.query.get("limit"))

    @endpoint("GET", "/surveys/{survey_id}/responses", "survey_responses")
    def list_survey_responses(self, request: Request):
        responses = self.data.survey_responses.get(request.params["survey_id"])
        if responses is None:
            raise HttpError(404, {"errors": [f"survey {request.params['survey_id']} not found"]})
        found = responses
        # Both bounds exclusive, like the issue search's time operators.
        if "submitted_after" in request.query:
            after = parse_time(request.query["submitted_after"], "submitted_after")
            found = [r for r in found if parse_iso(r["submitted_at"]) > after]
        if "submitted_before" in request.query:
            before = parse_time(request.query["submitted_before"], "submitted_before")
            found = [r for r in found if parse_iso(r["submitted_at"]) < before]
        return self._page(found, request.query.get("cursor"), request.query.get("limit"))

    # -- mutations, for incremental tests ----------------------------------------------------

    def landmarks(self) -> dict:
        """Times tests aim at: the epoch, 30-day bounds with issues on them, shared seconds."""
        return self.data.landmarks()

    def _tick(self) -> datetime:
        """Real now to the second, but always after every updated_at already served."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        self._high_water = max(now, self._high_water + timedelta(seconds=1))
        return self._high_water

    def update_issue(self, issue_id: str, **changes) -> dict:
        """Apply `changes` (top-level issue fields) and move updated_at to now."""
        for fixed in ("id", "number", "updated_at"):
            if fixed in changes:
                raise ValueError(f"{fixed} is set by the emulator")
        with self.lock:
            issue = self._lookup(issue_id)
            now = self._tick()
            if changes.get("state") == "closed" and not issue["resolution_time"]:
                seconds = int((now - parse_iso(issue["created_at"])).total_seconds())
                issue.update(resolution_time=FakeData.iso(now), resolution_seconds=seconds)
            issue.update(changes, updated_at=FakeData.iso(now))
            return self._public(issue)

    def add_message(self, issue_id: str, text: str = "A new message.", author: str = "contact") -> dict:
        """Append a public message from the requester ("contact") or the assignee ("user")."""
        if author not in ("contact", "user"):
            raise ValueError("author must be 'contact' or 'user'")
        with self.lock:
            issue = self._lookup(issue_id)
            now = self._tick()
            stamp = FakeData.iso(now)
            if author == "contact":
                person = self._person(issue["requester"], self.data.contacts)
                ref = {"contact": person_ref(person), "user": None}
            else:
                person = self._person(issue["assignee"], self.data.users)
                ref = {"contact": None, "user": person_ref(person)}
            message = {
                "id": str(uuid.uuid4()),
                "timestamp": stamp,
                "message_html": f"<p>{html.escape(text)}</p>",
                "is_private": False,
                "source": issue["source"],
                "thread_id": None,
                "file_urls": [],
                "author": {"name": person["name"], "avatar_url": person["avatar_url"], **ref},
                "email_info": None,
                "_created_at": stamp,
            }
            # Replace, never append in place: a page being encoded may hold the old list.
            self.data.messages[issue["id"]] = [*self.data.messages[issue["id"]], message]
            issue.update(updated_at=stamp, latest_message_time=stamp)
            if author == "user":
                issue["number_of_touches"] = (issue["number_of_touches"] or 0) + 1
                if not issue["first_response_time"]:
                    seconds = int((now - parse_iso(issue["created_at"])).total_seconds())
                    issue.update(first_response_time=stamp, first_response_seconds=seconds)
            return self._public(message)

    def add_issue(self, **fields) -> dict:
        """A new issue created now (or at the given created_at/updated_at), with no messages."""
        with self.lock:
            stamp = FakeData.iso(self._tick())
            number = max((i["number"] for i in self.data.issues), default=0) + 1
            issue = blank_issue(str(uuid.uuid4()), number, stamp)
            issue["title"] = f"Issue {number}"
            issue.update(fields)
            self.data.issues.append(issue)
            self.data.messages[issue["id"]] = []
            self.data.threads[issue["id"]] = []
            self._issues_by_id[issue["id"]] = issue
            self._high_water = max(self._high_water, parse_iso(issue["updated_at"]))
            return self._public(issue)

    def _lookup(self, issue_id: str) -> dict:
        try:
            return self._issue(str(issue_id))
        except HttpError as exc:
            raise KeyError(f"no issue {issue_id}") from exc

    def _person(self, ref: dict | None, people: list[dict]) -> dict:
        if ref:
            return next(p for p in people if p["id"] == ref["id"])
        return people[0]

    # -- the same mutations over HTTP, for a connector under test in another process -----------

    def _admin(self, action):
        try:
            with self.lock:
                return action()
        except KeyError as exc:
            raise HttpError(404, {"errors": [str(exc)]}) from exc
        except (TypeError, ValueError) as exc:
            raise HttpError(400, {"errors": [str(exc)]}) from exc

    @route("GET", ADMIN + "/landmarks", "_admin", admin=True)
    def admin_landmarks(self, request: Request):
        return self.landmarks()

    @route("POST", ADMIN + "/issues", "_admin", admin=True)
    def admin_add_issue(self, request: Request):
        return self._admin(lambda: {"data": self.add_issue(**request.json())})

    @route("PATCH", ADMIN + "/issues/{issue_id}", "_admin", admin=True)
    def admin_update_issue(self, request: Request):
        return self._admin(lambda: {"data": self.update_issue(request.params["issue_id"], **request.json())})

    @route("POST", ADMIN + "/issues/{issue_id}/messages", "_admin", admin=True)
    def admin_add_message(self, request: Request):
        return self._admin(lambda: {"data": self.add_message(request.params["issue_id"], **request.json())})
