"""One call through the client openapi-python-client generated from /openapi.json.

Run by scripts/clients.sh with the generated package on sys.path and WARDEN_URL / WARDEN_TOKEN
(alice's access token) in the environment.
"""

import os

from warden_api.api.auth import me
from warden_api.api.authz import check
from warden_api.client import AuthenticatedClient
from warden_api.models import CheckItem, CheckObject, CheckRequest

client = AuthenticatedClient(base_url=os.environ["WARDEN_URL"], token=os.environ["WARDEN_TOKEN"])
who = me.sync(client=client)
assert who is not None and who.username == "alice", who
assert who.policy_subject.principal == "user:alice", who.policy_subject
answer = check.sync(
    client=client,
    body=CheckRequest(checks=[CheckItem(object_=CheckObject(path="/api/documents"), action="GET")]),
)
assert answer is not None and answer.results[0].allowed, answer
print("generated Python client: /v1/me and /v1/check answered as expected")
