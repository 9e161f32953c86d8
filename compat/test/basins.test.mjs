// Basins: list / create / config round trip / delete / reconfigure /
// auto-create (API.md 5, 4, 17.3 "Basins").

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
	AppendInput,
	AppendRecord,
	RangeNotSatisfiableError,
} from "@s2-dev/streamstore";
import {
	basinName,
	makeClient,
	raw,
	rand,
	rejectsWith,
	sleep,
	streamName,
} from "./helpers.mjs";

const s2 = makeClient();

/** Poll until `fn` returns truthy (used only for asynchronous deletion). */
async function eventually(fn, timeoutMs = 10000) {
	const deadline = Date.now() + timeoutMs;
	let last;
	while (Date.now() < deadline) {
		last = await fn();
		if (last) return last;
		await sleep(100);
	}
	return last;
}

describe("basins: list", () => {
	const prefix = `c-list-${rand(6)}-`;
	const names = [`${prefix}a1`, `${prefix}b2`, `${prefix}c3`];

	test("create three basins under a shared prefix", async () => {
		// Create out of order; listing must sort.
		for (const n of [names[2], names[0], names[1]]) {
			const info = await s2.basins.create({ basin: n });
			assert.equal(info.name, n);
		}
	});

	test("prefix returns exactly the matching basins, sorted, has_more=false", async () => {
		const res = await s2.basins.list({ prefix });
		assert.deepEqual(
			res.basins.map((b) => b.name),
			names,
		);
		assert.equal(res.hasMore, false);
		for (const b of res.basins) {
			assert.ok(b.createdAt instanceof Date && !Number.isNaN(b.createdAt.getTime()));
			assert.equal(b.deletedAt ?? null, null);
		}
	});

	test("start_after skips up to and including the given name", async () => {
		const res = await s2.basins.list({ prefix, startAfter: names[0] });
		assert.deepEqual(
			res.basins.map((b) => b.name),
			names.slice(1),
		);
		assert.equal(res.hasMore, false);
	});

	test("start_after beyond every match yields an empty page", async () => {
		const res = await s2.basins.list({ prefix, startAfter: `${prefix}zz` });
		assert.deepEqual(res.basins, []);
		assert.equal(res.hasMore, false);
	});

	test("limit=1 returns one basin with has_more=true; paging by last name visits all", async () => {
		const seen = [];
		let startAfter;
		for (let i = 0; i < 5; i++) {
			const page = await s2.basins.list({ prefix, limit: 1, startAfter });
			assert.ok(page.basins.length <= 1);
			seen.push(...page.basins.map((b) => b.name));
			if (!page.hasMore) break;
			assert.equal(page.basins.length, 1, "has_more=true page must not be empty");
			startAfter = page.basins.at(-1).name;
		}
		assert.deepEqual(seen, names);
		const first = await s2.basins.list({ prefix, limit: 1 });
		assert.equal(first.hasMore, true);
		assert.deepEqual(
			first.basins.map((b) => b.name),
			[names[0]],
		);
	});

	test("limit=0 means the default (all three) and limit=1500 is accepted", async () => {
		const zero = await s2.basins.list({ prefix, limit: 0 });
		assert.deepEqual(
			zero.basins.map((b) => b.name),
			names,
		);
		assert.equal(zero.hasMore, false);
		const big = await s2.basins.list({ prefix, limit: 1500 });
		assert.deepEqual(
			big.basins.map((b) => b.name),
			names,
		);
	});

	test("listAll paginates (limit 1 per page)", async () => {
		const seen = [];
		for await (const b of s2.basins.listAll({ prefix, limit: 1 })) seen.push(b.name);
		assert.deepEqual(seen, names);
	});

	test("random prefix yields an empty list", async () => {
		const res = await s2.basins.list({ prefix: `zz-none-${rand(10)}` });
		assert.deepEqual(res.basins, []);
		assert.equal(res.hasMore, false);
	});

	test("a deleted basin is either gone or listed with deleted_at; listAll hides it", async () => {
		await s2.basins.delete({ basin: names[1] });
		const res = await s2.basins.list({ prefix });
		const entry = res.basins.find((b) => b.name === names[1]);
		if (entry) assert.ok(entry.deletedAt instanceof Date, "listed deleted basin must carry deleted_at");
		for (const b of res.basins.filter((x) => x.name !== names[1])) {
			assert.equal(b.deletedAt ?? null, null);
		}
		const visible = [];
		for await (const b of s2.basins.listAll({ prefix })) visible.push(b.name);
		assert.deepEqual(visible, [names[0], names[2]]);
	});
});

describe("basins: create and config round trip", () => {
	test("create minimal: name, created_at, default config", async () => {
		const name = basinName("min");
		const before = Date.now();
		const info = await s2.basins.create({ basin: name });
		assert.equal(info.name, name);
		assert.ok(info.createdAt instanceof Date);
		assert.ok(Math.abs(info.createdAt.getTime() - before) < 60_000, `created_at ${info.createdAt.toISOString()}`);
		assert.equal(info.deletedAt ?? null, null);
		const cfg = await s2.basins.getConfig({ basin: name });
		assert.equal(cfg.createStreamOnAppend, false);
		assert.equal(cfg.createStreamOnRead, false);
		assert.equal(cfg.defaultStreamConfig ?? null, null);
	});

	const variants = [
		{
			label: "standard / age / client-prefer / capped / doe 60",
			config: {
				createStreamOnAppend: true,
				createStreamOnRead: false,
				defaultStreamConfig: {
					storageClass: "standard",
					retentionPolicy: { ageSecs: 86400 },
					timestamping: { mode: "client-prefer", uncapped: false },
					deleteOnEmpty: { minAgeSecs: 60 },
				},
			},
		},
		{
			label: "express / infinite / client-require / uncapped",
			config: {
				createStreamOnAppend: false,
				createStreamOnRead: true,
				defaultStreamConfig: {
					storageClass: "express",
					retentionPolicy: { infinite: {} },
					timestamping: { mode: "client-require", uncapped: true },
					deleteOnEmpty: { minAgeSecs: 3600 },
				},
			},
		},
		{
			label: "arrival, both auto-create flags",
			config: {
				createStreamOnAppend: true,
				createStreamOnRead: true,
				defaultStreamConfig: {
					storageClass: "standard",
					retentionPolicy: { ageSecs: 3600 },
					timestamping: { mode: "arrival", uncapped: false },
					deleteOnEmpty: { minAgeSecs: 0 },
				},
			},
		},
	];
	for (const v of variants) {
		test(`full config round trips: ${v.label}`, async () => {
			const name = basinName("cfg");
			await s2.basins.create({ basin: name, config: v.config });
			const cfg = await s2.basins.getConfig({ basin: name });
			assert.equal(cfg.createStreamOnAppend, v.config.createStreamOnAppend);
			assert.equal(cfg.createStreamOnRead, v.config.createStreamOnRead);
			const d = cfg.defaultStreamConfig;
			const want = v.config.defaultStreamConfig;
			assert.ok(d, "defaultStreamConfig missing");
			assert.equal(d.storageClass, want.storageClass);
			assert.deepEqual(d.retentionPolicy, want.retentionPolicy);
			assert.equal(d.timestamping?.mode, want.timestamping.mode);
			assert.equal(d.timestamping?.uncapped, want.timestamping.uncapped);
			assert.equal(d.deleteOnEmpty?.minAgeSecs ?? 0, want.deleteOnEmpty.minAgeSecs);
		});
	}

	test("partial default config: unset fields read back as null", async () => {
		const name = basinName("part");
		await s2.basins.create({
			basin: name,
			config: { defaultStreamConfig: { storageClass: "standard" } },
		});
		const cfg = await s2.basins.getConfig({ basin: name });
		assert.equal(cfg.defaultStreamConfig.storageClass, "standard");
		assert.equal(cfg.defaultStreamConfig.retentionPolicy ?? null, null);
		assert.equal(cfg.defaultStreamConfig.timestamping ?? null, null);
	});

	const invalid = [
		["short", "short"],
		["49 chars", "a".repeat(49)],
		["uppercase", "Uppercase-basin"],
		["underscore", "under_score-basin"],
		["leading hyphen", "-leading-hyphen"],
		["trailing hyphen", "trailing-hyphen-"],
		["empty", ""],
	];
	for (const [label, name] of invalid) {
		test(`invalid name rejected: ${label}`, async () => {
			await rejectsWith(s2.basins.create({ basin: name }), {});
			// The server itself must reject it too (the SDK may validate
			// client-side): 400 from the raw endpoint, and nothing created.
			const r = await raw("POST", "/basins", { json: { basin: name } });
			assert.equal(r.status, 400, `raw create status ${r.status} body ${r.text}`);
			assert.equal(r.json?.code, "bad_json", `raw body ${r.text}`);
		});
	}

	test("duplicate create is 409 resource_already_exists", async () => {
		const name = basinName("dup");
		await s2.basins.create({ basin: name });
		await rejectsWith(s2.basins.create({ basin: name }), {
			status: 409,
			code: "resource_already_exists",
		});
	});

	test("idempotent replay: same request token and config gives 201 noop", async () => {
		const name = basinName("idem");
		const token = `tok-${rand(8)}`;
		const body = { basin: name, config: { create_stream_on_append: true } };
		const a = await raw("POST", "/basins", { json: body, headers: { "s2-request-token": token } });
		assert.equal(a.status, 201, a.text);
		assert.equal(a.headers.get("s2-provision-result"), "created");
		const b = await raw("POST", "/basins", { json: body, headers: { "s2-request-token": token } });
		assert.equal(b.status, 201, b.text);
		assert.equal(b.headers.get("s2-provision-result"), "noop");
		assert.equal(b.json.created_at, a.json.created_at);
	});

	test("retention age 0 on create is 422 invalid", async () => {
		const name = basinName("age0");
		await rejectsWith(
			s2.basins.create({
				basin: name,
				config: { defaultStreamConfig: { retentionPolicy: { ageSecs: 0 } } },
			}),
			{ status: 422, code: "invalid" },
		);
		await rejectsWith(s2.basins.getConfig({ basin: name }), { status: 404, code: "basin_not_found" });
	});

	test("get config of unknown basin is 404 basin_not_found", async () => {
		await rejectsWith(s2.basins.getConfig({ basin: basinName("nope") }), {
			status: 404,
			code: "basin_not_found",
		});
	});
});

describe("basins: ensure", () => {
	test("ensure reports created, then noop, then updated", async () => {
		const name = basinName("ens");
		const a = await s2.basins.ensure({ basin: name });
		assert.equal(a.result, "created");
		assert.equal(a.basin.name, name);
		const b = await s2.basins.ensure({ basin: name });
		assert.equal(b.result, "noop");
		const c = await s2.basins.ensure({ basin: name, config: { createStreamOnAppend: true } });
		assert.equal(c.result, "updated");
		const cfg = await s2.basins.getConfig({ basin: name });
		assert.equal(cfg.createStreamOnAppend, true);
		assert.equal(+c.basin.createdAt, +a.basin.createdAt, "ensure must preserve created_at");
	});
});

describe("basins: delete", () => {
	test("delete succeeds with an empty 202; unknown is 404; repeat is success or 404", async () => {
		const name = basinName("del");
		await s2.basins.create({ basin: name });
		await s2.basins.delete({ basin: name });
		await rejectsWith(s2.basins.delete({ basin: basinName("unknown") }), {
			status: 404,
			code: "basin_not_found",
		});
		try {
			await s2.basins.delete({ basin: name });
		} catch (e) {
			assert.equal(e.status, 404, `second delete: ${e.status} ${e.code} ${e.message}`);
		}
	});

	test("raw delete: 202 with Content-Length: 0 (the SDK needs it)", async () => {
		const name = basinName("del0");
		await s2.basins.create({ basin: name });
		const r = await raw("DELETE", `/basins/${name}`);
		assert.equal(r.status, 202);
		assert.equal(r.headers.get("content-length"), "0");
		assert.equal(r.text, "");
	});

	test("create while deleting is 409 basin_deletion_pending, or succeeds once deletion finished", async () => {
		const name = basinName("redo");
		await s2.basins.create({ basin: name });
		const b = s2.basin(name);
		await b.streams.create({ stream: "x" });
		await s2.basins.delete({ basin: name });
		try {
			await s2.basins.create({ basin: name });
		} catch (e) {
			assert.equal(e.status, 409, `${e.status} ${e.code}`);
			assert.equal(e.code, "basin_deletion_pending");
		}
		// Eventually the name is free again.
		const ok = await eventually(async () => {
			try {
				await s2.basins.create({ basin: name });
				return true;
			} catch (e) {
				if (e.code === "resource_already_exists") return true; // created by the first try
				return false;
			}
		});
		assert.ok(ok, "basin name never became free after deletion");
		const cfg = await s2.basins.getConfig({ basin: name });
		assert.equal(cfg.createStreamOnAppend, false);
	});

	test("reconfigure of a deleting basin fails", async () => {
		const name = basinName("rcdel");
		await s2.basins.create({ basin: name });
		await s2.basins.delete({ basin: name });
		await rejectsWith(s2.basins.reconfigure({ basin: name, createStreamOnAppend: true }), {
			status: [404, 409],
		});
	});
});

describe("basins: reconfigure", () => {
	test("toggle auto-create flags", async () => {
		const name = basinName("rc1");
		await s2.basins.create({ basin: name });
		let cfg = await s2.basins.reconfigure({ basin: name, createStreamOnAppend: true });
		assert.equal(cfg.createStreamOnAppend, true);
		assert.equal(cfg.createStreamOnRead, false);
		cfg = await s2.basins.reconfigure({ basin: name, createStreamOnRead: true });
		assert.equal(cfg.createStreamOnAppend, true, "partial patch must keep create_stream_on_append");
		assert.equal(cfg.createStreamOnRead, true);
		cfg = await s2.basins.reconfigure({ basin: name, createStreamOnAppend: false });
		assert.equal(cfg.createStreamOnAppend, false);
		assert.equal(cfg.createStreamOnRead, true);
		const got = await s2.basins.getConfig({ basin: name });
		assert.equal(got.createStreamOnAppend, false);
		assert.equal(got.createStreamOnRead, true);
	});

	test("default stream config fields: storage class, retention, timestamping, delete-on-empty", async () => {
		const name = basinName("rc2");
		await s2.basins.create({ basin: name });
		let cfg = await s2.basins.reconfigure({
			basin: name,
			defaultStreamConfig: { storageClass: "standard" },
		});
		assert.equal(cfg.defaultStreamConfig.storageClass, "standard");
		cfg = await s2.basins.reconfigure({
			basin: name,
			defaultStreamConfig: { retentionPolicy: { ageSecs: 7200 } },
		});
		assert.deepEqual(cfg.defaultStreamConfig.retentionPolicy, { ageSecs: 7200 });
		assert.equal(cfg.defaultStreamConfig.storageClass, "standard", "nested partial patch must keep storage class");
		cfg = await s2.basins.reconfigure({
			basin: name,
			defaultStreamConfig: { retentionPolicy: { infinite: {} } },
		});
		assert.deepEqual(cfg.defaultStreamConfig.retentionPolicy, { infinite: {} });
		cfg = await s2.basins.reconfigure({
			basin: name,
			defaultStreamConfig: { timestamping: { mode: "arrival" } },
		});
		assert.equal(cfg.defaultStreamConfig.timestamping.mode, "arrival");
		cfg = await s2.basins.reconfigure({
			basin: name,
			defaultStreamConfig: { timestamping: { uncapped: true } },
		});
		assert.equal(cfg.defaultStreamConfig.timestamping.mode, "arrival", "uncapped patch must keep mode");
		assert.equal(cfg.defaultStreamConfig.timestamping.uncapped, true);
		cfg = await s2.basins.reconfigure({
			basin: name,
			defaultStreamConfig: { deleteOnEmpty: { minAgeSecs: 120 } },
		});
		assert.equal(cfg.defaultStreamConfig.deleteOnEmpty.minAgeSecs, 120);
		cfg = await s2.basins.reconfigure({
			basin: name,
			defaultStreamConfig: { deleteOnEmpty: { minAgeSecs: 0 } },
		});
		assert.equal(cfg.defaultStreamConfig.deleteOnEmpty?.minAgeSecs ?? 0, 0);
		const got = await s2.basins.getConfig({ basin: name });
		assert.equal(got.defaultStreamConfig.storageClass, "standard");
		assert.deepEqual(got.defaultStreamConfig.retentionPolicy, { infinite: {} });
		assert.equal(got.defaultStreamConfig.timestamping.mode, "arrival");
		assert.equal(got.defaultStreamConfig.timestamping.uncapped, true);
	});

	test("empty patch is a no-op returning the current config", async () => {
		const name = basinName("rc3");
		const config = {
			createStreamOnRead: true,
			defaultStreamConfig: { storageClass: "standard", retentionPolicy: { ageSecs: 999 } },
		};
		await s2.basins.create({ basin: name, config });
		const before = await s2.basins.getConfig({ basin: name });
		const cfg = await s2.basins.reconfigure({ basin: name });
		assert.deepEqual(cfg, before);
		assert.equal(cfg.createStreamOnRead, true);
		assert.equal(cfg.defaultStreamConfig.storageClass, "standard");
		assert.deepEqual(cfg.defaultStreamConfig.retentionPolicy, { ageSecs: 999 });
	});

	test("null default_stream_config removes all defaults", async () => {
		const name = basinName("rc4");
		await s2.basins.create({
			basin: name,
			config: { defaultStreamConfig: { storageClass: "standard" } },
		});
		const cfg = await s2.basins.reconfigure({ basin: name, defaultStreamConfig: null });
		assert.equal(cfg.defaultStreamConfig ?? null, null);
	});

	test("retention age 0 on reconfigure is 422 invalid", async () => {
		const name = basinName("rc5");
		await s2.basins.create({ basin: name });
		await rejectsWith(
			s2.basins.reconfigure({
				basin: name,
				defaultStreamConfig: { retentionPolicy: { ageSecs: 0 } },
			}),
			{ status: 422, code: "invalid" },
		);
	});

	test("reconfigure unknown basin is 404 basin_not_found", async () => {
		await rejectsWith(s2.basins.reconfigure({ basin: basinName("rcx"), createStreamOnRead: true }), {
			status: 404,
			code: "basin_not_found",
		});
	});
});

describe("basins: auto-create", () => {
	test("create_stream_on_append creates the stream with inherited retention", async () => {
		const name = basinName("aca");
		await s2.basins.create({
			basin: name,
			config: {
				createStreamOnAppend: true,
				defaultStreamConfig: { retentionPolicy: { ageSecs: 3600 } },
			},
		});
		const basin = s2.basin(name);
		const sname = streamName("auto");
		const ack = await basin.stream(sname).append(AppendInput.create([AppendRecord.string({ body: "first" })]));
		assert.equal(ack.start.seqNum, 0);
		assert.equal(ack.end.seqNum, 1);
		const cfg = await basin.streams.getConfig({ stream: sname });
		assert.deepEqual(cfg.retentionPolicy, { ageSecs: 3600 });
		const list = await basin.streams.list({ prefix: sname });
		assert.deepEqual(
			list.streams.map((s) => s.name),
			[sname],
		);
	});

	test("create_stream_on_read: unary read from 0 is 416 and the stream then exists", async () => {
		const name = basinName("acr");
		await s2.basins.create({
			basin: name,
			config: {
				createStreamOnRead: true,
				defaultStreamConfig: { retentionPolicy: { ageSecs: 7200 } },
			},
		});
		const basin = s2.basin(name);
		const sname = streamName("auto");
		const err = await rejectsWith(basin.stream(sname).read({ start: { from: { seqNum: 0 } } }), {
			cls: RangeNotSatisfiableError,
			status: 416,
		});
		assert.equal(err.tail?.seqNum, 0);
		const cfg = await basin.streams.getConfig({ stream: sname });
		assert.deepEqual(cfg.retentionPolicy, { ageSecs: 7200 });
		const tail = await basin.stream(sname).checkTail();
		assert.equal(tail.tail.seqNum, 0);
	});

	test("without auto-create, append and read on a missing stream are 404 stream_not_found", async () => {
		const name = basinName("noac");
		await s2.basins.create({ basin: name });
		const st = s2.basin(name).stream(streamName("missing"));
		await rejectsWith(st.append(AppendInput.create([AppendRecord.string({ body: "x" })])), {
			status: 404,
			code: "stream_not_found",
		});
		await rejectsWith(st.read({ start: { from: { seqNum: 0 } } }), {
			status: 404,
			code: "stream_not_found",
		});
	});
});

describe("account: unsupported endpoints", () => {
	// Access tokens and usage metrics are implemented: see
	// accessTokens.test.mjs and metrics.test.mjs.
	test("locations answer 501 not_implemented", async () => {
		await rejectsWith(s2.locations.list(), { status: 501, code: "not_implemented" });
	});
});
