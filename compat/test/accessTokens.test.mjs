// Access tokens through the SDK's S2AccessTokens (s2.accessTokens: issue,
// list, listAll, revoke), and authorization of SDK calls made with an
// issued token (auth/doc.go; server/authz.go, server/tokens.go).
//
// The suite's own client holds the root token (S2_ACCESS_TOKEN, printed by
// `s2lite serve` and captured by run.sh). Every test issues its tokens under
// an id prefix of its own, so they do not see each other's tokens in
// listings, and makes its own basins and streams.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
	AppendInput,
	AppendRecord,
	basinName,
	drain,
	makeClient,
	rand,
	raw,
	rejectsWith,
	S2Error,
	sleep,
	streamName,
	TRANSPORTS,
} from "./helpers.mjs";

const s2 = makeClient();

/** A fresh token id (or id prefix) with the given short tag. */
function tokenId(tag) {
	return `at-${tag}-${Date.now().toString(36)}-${rand(8)}`;
}

/** Issue a token with the root client and return its secret. */
async function issue(args) {
	const res = await s2.accessTokens.issue(args);
	assert.equal(typeof res.accessToken, "string");
	assert.ok(res.accessToken.length > 0, "issued token must be non-empty");
	return res.accessToken;
}

/** An SDK client that authenticates with `token` (retries off). */
function clientWith(token, extra = {}) {
	return makeClient({ accessToken: token, ...extra });
}

/** The listed info of token `id` (found by listing with prefix = id). */
async function listed(id) {
	const res = await s2.accessTokens.list({ prefix: id });
	const t = res.accessTokens.find((x) => x.id === id);
	assert.ok(t, `token ${id} not listed: ${JSON.stringify(res.accessTokens.map((x) => x.id))}`);
	return t;
}

const NO_GROUPS = {
	account: { read: false, write: false },
	basin: { read: false, write: false },
	stream: { read: false, write: false },
};

const rec = (body) => AppendInput.create([AppendRecord.string({ body })]);

/** Assert an SDK-side rejection (no request sent) of an invalid token id. */
async function rejectedBySdk(promise, note) {
	let err;
	try {
		await promise;
	} catch (e) {
		err = e;
	}
	assert.ok(err instanceof S2Error, `expected an S2Error ${note}, got ${err}`);
	assert.match(err.message, /access token id/i, note);
}

describe("access tokens: issue", () => {
	let basin;
	let stream;

	before(async () => {
		basin = basinName("ati");
		stream = streamName("ati");
		await s2.basins.create({ basin });
		await s2.basin(basin).streams.create({ stream });
	});

	test("explicit ops: issued, listed with every scope field present", async () => {
		const id = tokenId("ops");
		await issue({ id, scope: { ops: ["list-basins", "list-access-tokens"] } });
		const t = await listed(id);
		assert.deepEqual(Object.keys(t).sort(), ["autoPrefixStreams", "expiresAt", "id", "scope"]);
		assert.equal(t.autoPrefixStreams, false);
		assert.equal(t.expiresAt, null);
		assert.deepEqual(t.scope, {
			basins: null,
			streams: null,
			accessTokens: null,
			opGroups: NO_GROUPS,
			ops: ["list-basins", "list-access-tokens"],
		});
	});

	test("exact basin and exact stream sets round-trip", async () => {
		const id = tokenId("exact");
		await issue({
			id,
			scope: { basins: { exact: basin }, streams: { exact: stream }, ops: ["read", "check-tail"] },
		});
		const t = await listed(id);
		assert.deepEqual(t.scope.basins, { exact: basin });
		assert.deepEqual(t.scope.streams, { exact: stream });
		assert.equal(t.scope.accessTokens, null);
		assert.deepEqual(new Set(t.scope.ops), new Set(["read", "check-tail"]));
	});

	test("prefix basin, stream and access-token sets round-trip", async () => {
		const id = tokenId("prefix");
		await issue({
			id,
			scope: {
				basins: { prefix: "c-" },
				streams: { prefix: "tenant/" },
				accessTokens: { prefix: "at-" },
				ops: ["list-streams", "list-access-tokens"],
			},
		});
		const t = await listed(id);
		assert.deepEqual(t.scope.basins, { prefix: "c-" });
		assert.deepEqual(t.scope.streams, { prefix: "tenant/" });
		assert.deepEqual(t.scope.accessTokens, { prefix: "at-" });
	});

	test("op_groups read-only: listed with both booleans of every group", async () => {
		const id = tokenId("ro");
		await issue({ id, scope: { basins: { prefix: "" }, streams: { prefix: "" }, opGroups: { stream: { read: true } } } });
		const t = await listed(id);
		assert.deepEqual(t.scope.opGroups, { ...NO_GROUPS, stream: { read: true, write: false } });
		assert.deepEqual(t.scope.ops, []);
	});

	test("op_groups read-write on every level", async () => {
		const id = tokenId("rw");
		const rw = { read: true, write: true };
		await issue({ id, scope: { basins: { prefix: "" }, opGroups: { account: rw, basin: rw, stream: rw } } });
		const t = await listed(id);
		assert.deepEqual(t.scope.opGroups, { account: rw, basin: rw, stream: rw });
	});

	test("auto_prefix_streams with a streams prefix is accepted and listed", async () => {
		const id = tokenId("apx");
		await issue({
			id,
			autoPrefixStreams: true,
			scope: { basins: { prefix: "" }, streams: { prefix: "tenant/" }, ops: ["list-streams"] },
		});
		const t = await listed(id);
		assert.equal(t.autoPrefixStreams, true);
		assert.deepEqual(t.scope.streams, { prefix: "tenant/" });
	});

	test("auto_prefix_streams namespaces stream names of SDK calls under the prefix", async () => {
		const prefix = `t-${rand(6)}/`;
		const token = await issue({
			id: tokenId("apx-use"),
			autoPrefixStreams: true,
			scope: {
				basins: { exact: basin },
				streams: { prefix },
				ops: ["create-stream", "list-streams", "append", "read"],
			},
		});
		const limited = clientWith(token).basin(basin);
		const name = streamName("apx");
		await limited.streams.create({ stream: name });
		const mine = await limited.streams.list({ prefix: name });
		assert.deepEqual(
			mine.streams.map((s) => s.name),
			[name],
		);
		const st = limited.stream(name);
		const ack = await st.append(rec("namespaced"));
		assert.equal(ack.start.seqNum, 0);
		await st.close();
		// The root token sees the stored name.
		const all = await s2.basin(basin).streams.list({ prefix });
		assert.deepEqual(
			all.streams.map((s) => s.name),
			[`${prefix}${name}`],
		);
		const read = await s2.basin(basin).stream(`${prefix}${name}`).read({ start: { from: { seqNum: 0 } } });
		assert.deepEqual(
			read.records.map((r) => r.body),
			["namespaced"],
		);
	});

	test("expires_at (a Date) round-trips", async () => {
		const id = tokenId("exp");
		const expiresAt = new Date(Date.now() + 3600_000);
		await issue({ id, expiresAt, scope: { ops: ["list-basins"] } });
		const t = await listed(id);
		assert.ok(t.expiresAt instanceof Date, `expiresAt ${t.expiresAt}`);
		assert.equal(t.expiresAt.getTime(), expiresAt.getTime());
	});

	test("expires_at in the past is 422 invalid", async () => {
		await rejectsWith(
			s2.accessTokens.issue({ id: tokenId("past"), expiresAt: new Date(Date.now() - 60_000), scope: { ops: ["list-basins"] } }),
			{ status: 422, code: "invalid" },
		);
	});

	test("a scope granting nothing is 422 invalid", async () => {
		await rejectsWith(s2.accessTokens.issue({ id: tokenId("empty"), scope: {} }), { status: 422, code: "invalid" });
	});

	test("duplicate id is 409; the first token keeps working", async () => {
		const id = tokenId("dup");
		const first = await issue({ id, scope: { ops: ["list-basins"] } });
		await rejectsWith(s2.accessTokens.issue({ id, scope: { ops: ["list-basins", "create-basin"] } }), {
			status: 409,
			code: "resource_already_exists",
		});
		await clientWith(first).basins.list({ limit: 1 });
		assert.deepEqual((await listed(id)).scope.ops, ["list-basins"]);
	});

	test("auto_prefix_streams with an exact streams set is 422 invalid", async () => {
		await rejectsWith(
			s2.accessTokens.issue({
				id: tokenId("apx-bad"),
				autoPrefixStreams: true,
				scope: { basins: { prefix: "" }, streams: { exact: "tenant/stream" }, ops: ["list-streams"] },
			}),
			{ status: 422, code: "invalid" },
		);
		// Also without any streams set.
		await rejectsWith(
			s2.accessTokens.issue({ id: tokenId("apx-none"), autoPrefixStreams: true, scope: { ops: ["list-streams"] } }),
			{ status: 422, code: "invalid" },
		);
	});

	test("empty and 97-byte ids: refused by the SDK, and by the server (400) when sent raw", async () => {
		const long = "a".repeat(97);
		await rejectedBySdk(s2.accessTokens.issue({ id: "", scope: { ops: ["list-basins"] } }), "(empty id)");
		await rejectedBySdk(s2.accessTokens.issue({ id: long, scope: { ops: ["list-basins"] } }), "(97-byte id)");
		for (const id of ["", long, "é".repeat(48) + "a"]) {
			const res = await raw("POST", "/access-tokens", { json: { id, scope: { ops: ["list-basins"] } } });
			assert.equal(res.status, 400, `id of ${Buffer.byteLength(id)} bytes: ${res.status} ${res.text}`);
			assert.equal(res.json?.code, "bad_json", res.text);
		}
		// 96 bytes is the limit and is accepted.
		const ok = `${tokenId("max")}-`.padEnd(96, "z");
		assert.equal(Buffer.byteLength(ok), 96);
		await issue({ id: ok, scope: { ops: ["list-basins"] } });
	});
});

describe("access tokens: list", () => {
	const prefix = `${tokenId("list")}-`;
	const ids = ["a", "b", "c", "d", "e"].map((s) => `${prefix}${s}`);
	const secrets = [];

	before(async () => {
		// Issued out of order; listing sorts by id.
		for (const id of [ids[3], ids[0], ids[4], ids[2], ids[1]]) {
			secrets.push(await issue({ id, scope: { ops: ["list-basins"] } }));
		}
	});

	test("prefix returns exactly the matching tokens, sorted, has_more=false", async () => {
		const res = await s2.accessTokens.list({ prefix });
		assert.deepEqual(
			res.accessTokens.map((t) => t.id),
			ids,
		);
		assert.equal(res.hasMore, false);
	});

	test("a prefix nothing matches gives an empty page", async () => {
		const res = await s2.accessTokens.list({ prefix: `${prefix}zz` });
		assert.deepEqual(res.accessTokens, []);
		assert.equal(res.hasMore, false);
	});

	test("limit gives has_more=true; start_after pages through every token once", async () => {
		const first = await s2.accessTokens.list({ prefix, limit: 2 });
		assert.deepEqual(
			first.accessTokens.map((t) => t.id),
			ids.slice(0, 2),
		);
		assert.equal(first.hasMore, true);
		const seen = [];
		let startAfter;
		for (let i = 0; i < 10; i++) {
			const page = await s2.accessTokens.list({ prefix, limit: 2, startAfter });
			assert.ok(page.accessTokens.length <= 2);
			seen.push(...page.accessTokens.map((t) => t.id));
			if (!page.hasMore) break;
			startAfter = page.accessTokens.at(-1).id;
		}
		assert.deepEqual(seen, ids);
		const tail = await s2.accessTokens.list({ prefix, startAfter: ids[2] });
		assert.deepEqual(
			tail.accessTokens.map((t) => t.id),
			ids.slice(3),
		);
		assert.equal(tail.hasMore, false);
		const past = await s2.accessTokens.list({ prefix, startAfter: ids[4] });
		assert.deepEqual(past.accessTokens, []);
	});

	test("listAll iterates every token", async () => {
		const seen = [];
		for await (const t of s2.accessTokens.listAll({ prefix, limit: 2 })) seen.push(t.id);
		assert.deepEqual(seen, ids);
	});

	test("listings never show secrets", async () => {
		const res = await s2.accessTokens.list({ prefix });
		for (const t of res.accessTokens) {
			assert.deepEqual(Object.keys(t).sort(), ["autoPrefixStreams", "expiresAt", "id", "scope"]);
		}
		const wire = await raw("GET", `/access-tokens?prefix=${encodeURIComponent(prefix)}`);
		assert.equal(wire.status, 200);
		assert.equal(secrets.length, ids.length);
		for (const secret of secrets) {
			assert.ok(!wire.text.includes(secret), "a listing contains an issued secret");
			assert.ok(!JSON.stringify(res).includes(secret));
		}
		assert.ok(!wire.text.includes(process.env.S2_ACCESS_TOKEN), "a listing contains the root token");
	});
});

describe("access tokens: revoke", () => {
	test("a revoked token gets 401 authn on its next request; revoking again is 404", async () => {
		const id = tokenId("rev");
		const token = await issue({ id, scope: { ops: ["list-basins"] } });
		const limited = clientWith(token);
		await limited.basins.list({ limit: 1 });
		await s2.accessTokens.revoke({ id });
		await rejectsWith(limited.basins.list({ limit: 1 }), { status: 401, code: "authn" });
		const res = await s2.accessTokens.list({ prefix: id });
		assert.deepEqual(res.accessTokens, [], "a revoked token is no longer listed");
		await rejectsWith(s2.accessTokens.revoke({ id }), { status: 404, code: "access_token_not_found" });
	});

	test("revoking an id never issued is 404 access_token_not_found", async () => {
		await rejectsWith(s2.accessTokens.revoke({ id: tokenId("missing") }), {
			status: 404,
			code: "access_token_not_found",
		});
	});

	test("issuing a revoked id again never revives the old secret", async () => {
		// s2lite frees the id (201 with a new secret); a server that keeps
		// it reserved (409) would be fine too.
		const id = tokenId("reuse");
		const old = await issue({ id, scope: { ops: ["list-basins"] } });
		await s2.accessTokens.revoke({ id });
		try {
			const fresh = await issue({ id, scope: { ops: ["list-basins"] } });
			assert.notEqual(fresh, old);
			await clientWith(fresh).basins.list({ limit: 1 });
		} catch (e) {
			assert.ok(e instanceof S2Error && e.status === 409, `unexpected ${e}`);
		}
		await rejectsWith(clientWith(old).basins.list({ limit: 1 }), { status: 401, code: "authn" });
	});

	test("a token may revoke tokens in its access_tokens set, and only those", async () => {
		const prefix = `${tokenId("revp")}-`;
		const revoker = await issue({
			id: `${prefix}revoker`,
			scope: { accessTokens: { prefix: `${prefix}x` }, ops: ["revoke-access-token"] },
		});
		await issue({ id: `${prefix}x1`, scope: { ops: ["list-basins"] } });
		await issue({ id: `${prefix}y1`, scope: { ops: ["list-basins"] } });
		const limited = clientWith(revoker);
		await limited.accessTokens.revoke({ id: `${prefix}x1` });
		await rejectsWith(limited.accessTokens.revoke({ id: `${prefix}y1` }), { status: 403, code: "permission_denied" });
		// Outside its set, a missing id is 403 too: existence is not revealed.
		await rejectsWith(limited.accessTokens.revoke({ id: `${prefix}y-missing` }), {
			status: 403,
			code: "permission_denied",
		});
		const left = await s2.accessTokens.list({ prefix });
		assert.deepEqual(
			left.accessTokens.map((t) => t.id),
			[`${prefix}revoker`, `${prefix}y1`],
		);
	});
});

describe("access tokens: authentication", () => {
	test("a random string as token is 401 authn on list basins", async () => {
		await rejectsWith(clientWith(`not-a-token-${rand(16)}`).basins.list(), { status: 401, code: "authn" });
	});

	test("no Authorization header is 401 authn", async () => {
		const res = await raw("GET", "/basins", { headers: { authorization: "" } });
		assert.equal(res.status, 401, res.text);
		assert.equal(res.json?.code, "authn");
	});

	test("a token past its expires_at gets 401 authn", async () => {
		const id = tokenId("expire");
		const expiresAt = new Date(Date.now() + 2000);
		const token = await issue({ id, expiresAt, scope: { ops: ["list-basins"] } });
		const limited = clientWith(token);
		await limited.basins.list({ limit: 1 });
		await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + 300);
		await rejectsWith(limited.basins.list({ limit: 1 }), { status: 401, code: "authn" });
	});
});

describe("access tokens: authorization of SDK calls", () => {
	let basin;
	let stream;

	before(async () => {
		basin = basinName("atz");
		stream = streamName("atz");
		await s2.basins.create({ basin });
		const st = s2.basin(basin).stream(stream);
		await s2.basin(basin).streams.create({ stream });
		await st.append(rec("seed"));
		await st.close();
	});

	test("a read-only token reads, but append is 403 permission_denied", async () => {
		const token = await issue({
			id: tokenId("ro-use"),
			scope: { basins: { exact: basin }, streams: { exact: stream }, opGroups: { stream: { read: true } } },
		});
		const st = clientWith(token).basin(basin).stream(stream);
		const read = await st.read({ start: { from: { seqNum: 0 } } });
		assert.deepEqual(
			read.records.map((r) => r.body),
			["seed"],
		);
		assert.equal((await st.checkTail()).tail.seqNum, 1);
		await rejectsWith(st.append(rec("nope")), { status: 403, code: "permission_denied" });
		await st.close();
		// Nothing was appended.
		assert.equal((await s2.basin(basin).stream(stream).checkTail()).tail.seqNum, 1);
	});

	test("a stream token is confined to its stream and operations", async () => {
		const token = await issue({
			id: tokenId("st-use"),
			scope: { basins: { exact: basin }, streams: { exact: stream }, opGroups: { stream: { read: true, write: true } } },
		});
		const limited = clientWith(token);
		const other = limited.basin(basin).stream(streamName("other"));
		await rejectsWith(other.read({ start: { from: { seqNum: 0 } } }), { status: 403, code: "permission_denied" });
		await rejectsWith(limited.basin(basin).streams.list(), { status: 403, code: "permission_denied" });
		await rejectsWith(limited.basin(basin).streams.create({ stream: streamName("new") }), {
			status: 403,
			code: "permission_denied",
		});
		await rejectsWith(limited.basins.list(), { status: 403, code: "permission_denied" });
		await other.close();
	});

	test("a token scoped to basin prefix A cannot touch basin B", async () => {
		const prefixA = `c-ata-${rand(6)}-`;
		const a = `${prefixA}one`;
		const b = basinName("atb");
		const sa = streamName("a");
		const sb = streamName("b");
		await s2.basins.create({ basin: a });
		await s2.basins.create({ basin: b });
		await s2.basin(a).streams.create({ stream: sa });
		await s2.basin(b).streams.create({ stream: sb });
		const rw = { read: true, write: true };
		const token = await issue({
			id: tokenId("basin-a"),
			scope: {
				basins: { prefix: prefixA },
				streams: { prefix: "" },
				ops: ["list-basins", "create-basin"],
				opGroups: { basin: rw, stream: rw },
			},
		});
		const limited = clientWith(token);

		// Inside A: everything the scope grants works.
		const listA = await limited.basin(a).streams.list();
		assert.deepEqual(
			listA.streams.map((s) => s.name),
			[sa],
		);
		const extra = streamName("x");
		await limited.basin(a).streams.create({ stream: extra });
		const stA = limited.basin(a).stream(sa);
		await stA.append(rec("in-a"));
		await stA.close();
		await limited.basins.create({ basin: `${prefixA}two` });
		const visible = await limited.basins.list();
		assert.deepEqual(
			visible.basins.map((x) => x.name),
			[a, `${prefixA}two`],
			"list-basins shows only basins inside the scope",
		);

		// Basin B: every kind of request is denied.
		const denied = { status: 403, code: "permission_denied" };
		await rejectsWith(limited.basin(b).streams.list(), denied, "(list streams)");
		await rejectsWith(limited.basin(b).streams.create({ stream: streamName("y") }), denied, "(create stream)");
		await rejectsWith(limited.basin(b).streams.delete({ stream: sb }), denied, "(delete stream)");
		await rejectsWith(limited.basin(b).streams.getConfig({ stream: sb }), denied, "(get stream config)");
		await rejectsWith(limited.basins.getConfig({ basin: b }), denied, "(get basin config)");
		await rejectsWith(limited.basins.delete({ basin: b }), denied, "(delete basin)");
		await rejectsWith(limited.basins.create({ basin: basinName("atc") }), denied, "(create basin)");
		const stB = limited.basin(b).stream(sb);
		await rejectsWith(stB.append(rec("in-b")), denied, "(append)");
		await rejectsWith(stB.read({ start: { from: { seqNum: 0 } } }), denied, "(read)");
		await rejectsWith(stB.checkTail(), denied, "(check tail)");
		await stB.close();
		assert.equal((await s2.basin(b).stream(sb).checkTail()).tail.seqNum, 0, "nothing reached basin B");
		await s2.basins.getConfig({ basin: b });
	});

	test("a token without list-access-tokens cannot list tokens", async () => {
		const token = await issue({
			id: tokenId("no-list"),
			scope: { accessTokens: { prefix: "" }, ops: ["list-basins", "issue-access-token"] },
		});
		await rejectsWith(clientWith(token).accessTokens.list(), { status: 403, code: "permission_denied" });
	});

	test("a token with list-access-tokens sees only its access_tokens set", async () => {
		const prefix = `${tokenId("lv")}-`;
		await issue({ id: `${prefix}in-1`, scope: { ops: ["list-basins"] } });
		await issue({ id: `${prefix}in-2`, scope: { ops: ["list-basins"] } });
		await issue({ id: `${prefix}out`, scope: { ops: ["list-basins"] } });
		const token = await issue({
			id: `${prefix}viewer`,
			scope: { accessTokens: { prefix: `${prefix}in` }, ops: ["list-access-tokens"] },
		});
		const res = await clientWith(token).accessTokens.list({ prefix });
		assert.deepEqual(
			res.accessTokens.map((t) => t.id),
			[`${prefix}in-1`, `${prefix}in-2`],
		);
	});

	test("a token cannot issue a broader token (403), but may issue a narrower one", async () => {
		const prefix = `${tokenId("esc")}-`;
		const issuerExpiry = new Date(Date.now() + 3600_000);
		const token = await issue({
			id: `${prefix}issuer`,
			expiresAt: issuerExpiry,
			scope: {
				basins: { prefix: "c-esc-" },
				accessTokens: { prefix: `${prefix}child` },
				ops: ["list-basins", "get-basin-config", "issue-access-token"],
			},
		});
		const limited = clientWith(token);
		const denied = { status: 403, code: "permission_denied" };
		await rejectsWith(
			limited.accessTokens.issue({ id: `${prefix}child-ops`, scope: { ops: ["create-basin"] } }),
			denied,
			"(an operation the issuer lacks)",
		);
		await rejectsWith(
			limited.accessTokens.issue({
				id: `${prefix}child-basins`,
				scope: { basins: { prefix: "" }, ops: ["get-basin-config"] },
			}),
			denied,
			"(a basin set wider than the issuer's)",
		);
		await rejectsWith(
			limited.accessTokens.issue({
				id: `${prefix}child-rw`,
				scope: { basins: { prefix: "c-esc-" }, opGroups: { basin: { read: true } } },
			}),
			denied,
			"(an op group granting more than the issuer's ops)",
		);
		await rejectsWith(
			limited.accessTokens.issue({
				id: `${prefix}child-exp`,
				expiresAt: new Date(issuerExpiry.getTime() + 60_000),
				scope: { ops: ["list-basins"] },
			}),
			denied,
			"(an expiry later than the issuer's)",
		);
		await rejectsWith(
			limited.accessTokens.issue({ id: `${prefix}other`, scope: { ops: ["list-basins"] } }),
			denied,
			"(an id outside the issuer's access_tokens set)",
		);
		const list = await s2.accessTokens.list({ prefix });
		assert.deepEqual(
			list.accessTokens.map((t) => t.id),
			[`${prefix}issuer`],
			"no denied token was created",
		);

		// A narrower token is fine, and inherits the issuer's expiry.
		const child = await limited.accessTokens.issue({
			id: `${prefix}child-ok`,
			scope: { basins: { exact: "c-esc-basin-1" }, ops: ["get-basin-config"] },
		});
		assert.ok(child.accessToken.length > 0);
		const info = await listed(`${prefix}child-ok`);
		assert.equal(info.expiresAt?.getTime(), issuerExpiry.getTime());
	});

	test("command records need their operation: a fence needs fence, a trim needs trim", async () => {
		const token = await issue({
			id: tokenId("fence"),
			scope: { basins: { exact: basin }, streams: { exact: stream }, ops: ["append", "read"] },
		});
		const st = clientWith(token).basin(basin).stream(stream);
		await rejectsWith(st.append(AppendInput.create([AppendRecord.fence("t1")])), {
			status: 403,
			code: "permission_denied",
		});
		await rejectsWith(st.append(AppendInput.create([AppendRecord.trim(0)])), { status: 403, code: "permission_denied" });
		await st.close();
	});
});

for (const transport of TRANSPORTS) {
	describe(`[${transport}] access tokens: sessions`, () => {
		let basin;

		before(async () => {
			basin = basinName(`ats-${transport}`);
			await s2.basins.create({ basin });
		});

		test(`[${transport}] an issued stream read/write token appends and reads through sessions`, async () => {
			const stream = streamName("sess");
			await s2.basin(basin).streams.create({ stream });
			const token = await issue({
				id: tokenId(`sess-${transport}`),
				scope: {
					basins: { exact: basin },
					streams: { exact: stream },
					opGroups: { stream: { read: true, write: true } },
				},
			});
			const st = clientWith(token).basin(basin).stream(stream, { forceTransport: transport });
			const session = await st.appendSession();
			const t1 = await session.submit(rec("one"));
			const t2 = await session.submit(
				AppendInput.create([AppendRecord.string({ body: "two", headers: [["k", "v"]] })]),
			);
			const [a1, a2] = await Promise.all([t1.ack(), t2.ack()]);
			assert.equal(a1.start.seqNum, 0);
			assert.equal(a2.start.seqNum, 1);
			await session.close();

			const rs = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 } } });
			const { records, error, timedOut } = await drain(rs, { timeoutMs: 10000 });
			assert.equal(timedOut, false);
			assert.equal(error, undefined, String(error));
			assert.deepEqual(
				records.map((r) => r.body),
				["one", "two"],
			);
			assert.deepEqual(records[1].headers, [["k", "v"]]);
			await st.close();
		});

		test(`[${transport}] a read-only token's append session is denied with 403`, async () => {
			const stream = streamName("ro");
			await s2.basin(basin).streams.create({ stream });
			const token = await issue({
				id: tokenId(`ro-${transport}`),
				scope: { basins: { exact: basin }, streams: { exact: stream }, opGroups: { stream: { read: true } } },
			});
			const st = clientWith(token).basin(basin).stream(stream, { forceTransport: transport });
			let err;
			try {
				const session = await st.appendSession();
				const t = await session.submit(rec("x"));
				await t.ack();
				await session.close();
			} catch (e) {
				err = e;
			}
			assert.ok(err instanceof S2Error, `expected an S2Error, got ${err}`);
			assert.equal(err.status, 403, `${err.status} ${err.code} ${err.message}`);
			assert.equal(err.code, "permission_denied");
			await st.close();
			assert.equal((await s2.basin(basin).stream(stream).checkTail()).tail.seqNum, 0);
		});

		/**
		 * Open a tailing read session with a fresh read token, see its first
		 * record, revoke the token, and return how the session ended.
		 */
		async function revokeWhileTailing(tag, clientOptions) {
			const stream = streamName(tag);
			await s2.basin(basin).streams.create({ stream });
			const id = tokenId(`${tag}-${transport}`);
			const token = await issue({
				id,
				scope: { basins: { exact: basin }, streams: { exact: stream }, opGroups: { stream: { read: true } } },
			});
			const root = s2.basin(basin).stream(stream);
			await root.append(rec("before"));
			const st = clientWith(token, clientOptions).basin(basin).stream(stream, { forceTransport: transport });
			const rs = await st.readSession({ start: { from: { seqNum: 0 } } });
			const out = [];
			let error;
			const done = (async () => {
				try {
					for await (const r of rs) out.push(r);
				} catch (e) {
					error = e;
				}
			})();
			const deadline = Date.now() + 10000;
			while (out.length < 1 && Date.now() < deadline) await sleep(20);
			assert.deepEqual(
				out.map((r) => r.body),
				["before"],
			);
			await s2.accessTokens.revoke({ id });
			let timer;
			const ended = await Promise.race([
				done.then(() => true),
				new Promise((r) => {
					timer = setTimeout(() => r(false), 10000);
				}),
			]);
			clearTimeout(timer);
			if (!ended) await rs.cancel().catch(() => {});
			assert.ok(ended, "the read session must end after its token is revoked");
			await root.append(rec("after"));
			await sleep(100);
			assert.deepEqual(
				out.map((r) => r.body),
				["before"],
				"nothing is delivered after the revocation",
			);
			await st.close();
			await root.close();
			return error;
		}

		test(`[${transport}] a tailing read session ends when its token is revoked`, async () => {
			const error = await revokeWhileTailing("tail");
			assert.ok(error instanceof S2Error, `expected an S2Error, got ${error}`);
			const summary = `${error.status} ${error.code} ${error.message}`;
			if (transport === "fetch") {
				// The SDK turns every SSE `error` event into a retryable 503
				// carrying the event's data: here the server's authn error.
				assert.equal(error.status, 503, summary);
				assert.match(error.message, /"code":"authn"/, summary);
			} else {
				assert.equal(error.status, 401, summary);
				assert.equal(error.code, "authn", summary);
			}
		});

		test(`[${transport}] with SDK retries on, the revoked session's reconnect is refused with 401`, async () => {
			const error = await revokeWhileTailing("tailr", {
				retry: { maxAttempts: 3, minBaseDelayMillis: 10, maxBaseDelayMillis: 50 },
			});
			assert.ok(error instanceof S2Error, `expected an S2Error, got ${error}`);
			assert.equal(error.status, 401, `${error.status} ${error.code} ${error.message}`);
			assert.equal(error.code, "authn");
		});
	});
}
