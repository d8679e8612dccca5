// One call through the types openapi-typescript generated from /openapi.json, with openapi-fetch.
// Compiled with tsc by scripts/clients.sh and run with WARDEN_URL / WARDEN_TOKEN (alice's token).
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const client = createClient<paths>({ baseUrl: process.env.WARDEN_URL });
const auth = { headers: { Authorization: `Bearer ${process.env.WARDEN_TOKEN}` } };
const me = await client.GET("/v1/me", auth);
if (me.data?.username !== "alice") {
  throw new Error(`unexpected /v1/me answer: ${JSON.stringify(me.error ?? me.data)}`);
}
const check = await client.POST("/v1/check", {
  ...auth,
  body: { checks: [{ object: { path: "/api/documents" }, action: "GET" }] },
});
if (!check.data?.results[0]?.allowed) {
  throw new Error(`unexpected /v1/check answer: ${JSON.stringify(check.error ?? check.data)}`);
}
console.log("generated TypeScript client: /v1/me and /v1/check answered as expected");
