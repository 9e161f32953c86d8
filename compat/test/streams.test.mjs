// Streams: list / create / config round trip / delete / reconfigure /
// check tail (API.md 6, 4, 8.1, 17.3 "Streams").

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
	appendStrings,
	freshBasin,
	makeClient,
	raw,
	rand,
	rejectsWith,
	streamName,
} from "./helpers.mjs";

const s2 = makeClient();
let basin;

before(async () => {
	basin = await freshBasin(s2, "streams");
});

describe("streams: list", () => {
	const prefix = `lst-${rand(6)}/`;
	const names = [`${prefix}a`, `${prefix}b`, `${prefix}c`];

	test("create three streams under a shared prefix", async () => {
		for (const n of [names[1], names[2], names[0]]) {
			const info = await basin.streams.create({ stream: n });
			assert.equal(info.name, n);
		}
	});

	test("prefix returns exactly the matching streams, sorted", async () => {
		const res = await basin.streams.list({ prefix });
		assert.deepEqual(
			res.streams.map((s) => s.name),
			names,
		);
		assert.equal(res.hasMore, false);
		for (const s of res.streams) {
			assert.ok(s.createdAt instanceof Date && !Number.isNaN(s.createdAt.getTime()));
			assert.equal(s.deletedAt ?? null, null);
		}
	});

	test("start_after and limit paginate", async () => {
		const res = await basin.streams.list({ prefix, startAfter: names[0] });
		assert.deepEqual(
			res.streams.map((s) => s.name),
			names.slice(1),
		);
		const p1 = await basin.streams.list({ prefix, limit: 2 });
		assert.deepEqual(
			p1.streams.map((s) => s.name),
			names.slice(0, 2),
		);
		assert.equal(p1.hasMore, true);
		const p2 = await basin.streams.list({ prefix, limit: 2, startAfter: p1.streams.at(-1).name });
		assert.deepEqual(
			p2.streams.map((s) => s.name),
			names.slice(2),
		);
		assert.equal(p2.hasMore, false);
		const all = [];
		for await (const s of basin.streams.listAll({ prefix, limit: 1 })) all.push(s.name);
		assert.deepEqual(all, names);
	});

	test("limit 0 is the default; unknown prefix is empty", async () => {
		const res = await basin.streams.list({ prefix, limit: 0 });
		assert.deepEqual(
			res.streams.map((s) => s.name),
			names,
		);
		const none = await basin.streams.list({ prefix: `nothing-${rand(8)}` });
		assert.deepEqual(none.streams, []);
		assert.equal(none.hasMore, false);
	});

	test("deleted stream is gone or listed with deleted_at; listAll hides it", async () => {
		await basin.streams.delete({ stream: names[0] });
		const res = await basin.streams.list({ prefix });
		const entry = res.streams.find((s) => s.name === names[0]);
		if (entry) assert.ok(entry.deletedAt instanceof Date, "listed deleted stream must carry deleted_at");
		const visible = [];
		for await (const s of basin.streams.listAll({ prefix })) visible.push(s.name);
		assert.deepEqual(visible, names.slice(1));
	});

	test("limit 1500 over 1001 streams returns exactly 1000 with has_more", async () => {
		const b = await freshBasin(s2, "many");
		const all = Array.from({ length: 1001 }, (_, i) => `m-${String(i).padStart(4, "0")}`);
		for (let i = 0; i < all.length; i += 50) {
			await Promise.all(all.slice(i, i + 50).map((n) => b.streams.create({ stream: n })));
		}
		const res = await b.streams.list({ limit: 1500 });
		assert.equal(res.streams.length, 1000);
		assert.equal(res.hasMore, true);
		assert.deepEqual(
			res.streams.map((s) => s.name),
			all.slice(0, 1000),
		);
		const rest = await b.streams.list({ startAfter: res.streams.at(-1).name });
		assert.deepEqual(
			rest.streams.map((s) => s.name),
			[all[1000]],
		);
		assert.equal(rest.hasMore, false);
	});
});

describe("streams: create and config", () => {
	test("create minimal: name and parseable created_at; defaults resolved", async () => {
		const n = streamName("min");
		const info = await basin.streams.create({ stream: n });
		assert.equal(info.name, n);
		assert.ok(info.createdAt instanceof Date && !Number.isNaN(info.createdAt.getTime()));
		assert.ok(Math.abs(info.createdAt.getTime() - Date.now()) < 60_000);
		const cfg = await basin.streams.getConfig({ stream: n });
		assert.equal(cfg.storageClass, "express");
		assert.deepEqual(cfg.retentionPolicy, { ageSecs: 604800 });
		assert.equal(cfg.timestamping.mode, "client-prefer");
		assert.equal(cfg.timestamping.uncapped, false);
		assert.equal(cfg.deleteOnEmpty?.minAgeSecs ?? 0, 0);
	});

	test("full config round trips through GET", async () => {
		const n = streamName("full");
		const config = {
			storageClass: "standard",
			retentionPolicy: { ageSecs: 12345 },
			timestamping: { mode: "client-require", uncapped: true },
			deleteOnEmpty: { minAgeSecs: 600 },
		};
		await basin.streams.create({ stream: n, config });
		const cfg = await basin.streams.getConfig({ stream: n });
		assert.equal(cfg.storageClass, "standard");
		assert.deepEqual(cfg.retentionPolicy, { ageSecs: 12345 });
		assert.equal(cfg.timestamping.mode, "client-require");
		assert.equal(cfg.timestamping.uncapped, true);
		assert.equal(cfg.deleteOnEmpty.minAgeSecs, 600);
	});

	for (const sc of ["standard", "express"]) {
		test(`storage class ${sc}`, async () => {
			const n = streamName(sc);
			await basin.streams.create({ stream: n, config: { storageClass: sc } });
			assert.equal((await basin.streams.getConfig({ stream: n })).storageClass, sc);
		});
	}

	for (const rp of [{ ageSecs: 1 }, { ageSecs: 3600 }, { infinite: {} }]) {
		test(`retention ${JSON.stringify(rp)}`, async () => {
			const n = streamName("ret");
			await basin.streams.create({ stream: n, config: { retentionPolicy: rp } });
			assert.deepEqual((await basin.streams.getConfig({ stream: n })).retentionPolicy, rp);
		});
	}

	for (const mode of ["client-prefer", "client-require", "arrival"]) {
		test(`timestamping mode ${mode}`, async () => {
			const n = streamName("ts");
			await basin.streams.create({ stream: n, config: { timestamping: { mode } } });
			const cfg = await basin.streams.getConfig({ stream: n });
			assert.equal(cfg.timestamping.mode, mode);
			assert.equal(cfg.timestamping.uncapped, false);
		});
	}

	test("timestamping uncapped alone keeps default mode", async () => {
		const n = streamName("unc");
		await basin.streams.create({ stream: n, config: { timestamping: { uncapped: true } } });
		const cfg = await basin.streams.getConfig({ stream: n });
		assert.equal(cfg.timestamping.uncapped, true);
		assert.equal(cfg.timestamping.mode, "client-prefer");
	});

	test("delete-on-empty round trips", async () => {
		const n = streamName("doe");
		await basin.streams.create({ stream: n, config: { deleteOnEmpty: { minAgeSecs: 90 } } });
		assert.equal((await basin.streams.getConfig({ stream: n })).deleteOnEmpty.minAgeSecs, 90);
	});

	test("stream inherits basin defaults at creation", async () => {
		const b = await freshBasin(s2, "inh", {
			defaultStreamConfig: {
				storageClass: "standard",
				timestamping: { mode: "arrival" },
			},
		});
		const n = streamName("inh");
		await b.streams.create({ stream: n, config: { retentionPolicy: { infinite: {} } } });
		const cfg = await b.streams.getConfig({ stream: n });
		assert.equal(cfg.storageClass, "standard");
		assert.equal(cfg.timestamping.mode, "arrival");
		assert.deepEqual(cfg.retentionPolicy, { infinite: {} });
	});

	test("empty name is rejected (SDK and server)", async () => {
		await rejectsWith(basin.streams.create({ stream: "" }), {});
		const r = await raw("POST", "/streams", { basin: basin.name, json: { stream: "" } });
		assert.equal(r.status, 400, r.text);
		assert.equal(r.json?.code, "bad_json");
	});

	test("513-byte name is rejected (SDK and server); 512 bytes is accepted", async () => {
		await rejectsWith(basin.streams.create({ stream: "x".repeat(513) }), {});
		const r = await raw("POST", "/streams", { basin: basin.name, json: { stream: "y".repeat(513) } });
		assert.equal(r.status, 400, r.text);
		assert.equal(r.json?.code, "bad_json");
		const ok = `${rand(4)}${"z".repeat(508)}`;
		const info = await basin.streams.create({ stream: ok });
		assert.equal(info.name, ok);
	});

	test("unicode name with a slash works end to end", async () => {
		const n = `日本語/テスト-${rand(4)}`;
		const info = await basin.streams.create({ stream: n });
		assert.equal(info.name, n);
		const cfg = await basin.streams.getConfig({ stream: n });
		assert.equal(cfg.storageClass, "express");
		const st = basin.stream(n);
		await appendStrings(st, 2, "u");
		const batch = await st.read({ start: { from: { seqNum: 0 } } });
		assert.deepEqual(
			batch.records.map((r) => r.body),
			["u0", "u1"],
		);
		const list = await basin.streams.list({ prefix: "日本語/" });
		assert.ok(list.streams.some((s) => s.name === n), JSON.stringify(list.streams.map((s) => s.name)));
		await basin.streams.delete({ stream: n });
	});

	test("duplicate create is 409 resource_already_exists", async () => {
		const n = streamName("dup");
		await basin.streams.create({ stream: n });
		await rejectsWith(basin.streams.create({ stream: n }), {
			status: 409,
			code: "resource_already_exists",
		});
	});

	test("retention age 0 is 422 invalid", async () => {
		await rejectsWith(
			basin.streams.create({ stream: streamName("z"), config: { retentionPolicy: { ageSecs: 0 } } }),
			{ status: 422, code: "invalid" },
		);
	});

	test("create in unknown basin is 404 basin_not_found", async () => {
		const other = s2.basin(`c-unknown-${rand(10)}`);
		await rejectsWith(other.streams.create({ stream: "x" }), { status: 404, code: "basin_not_found" });
	});

	test("ensure reports created, noop, updated", async () => {
		const n = streamName("ens");
		const a = await basin.streams.ensure({ stream: n, config: { storageClass: "standard" } });
		assert.equal(a.result, "created");
		assert.equal(a.stream.name, n);
		const b = await basin.streams.ensure({ stream: n, config: { storageClass: "standard" } });
		assert.equal(b.result, "noop");
		const c = await basin.streams.ensure({ stream: n, config: { storageClass: "express" } });
		assert.equal(c.result, "updated");
		assert.equal((await basin.streams.getConfig({ stream: n })).storageClass, "express");
	});

	test("get config of missing stream is 404 stream_not_found", async () => {
		await rejectsWith(basin.streams.getConfig({ stream: streamName("missing") }), {
			status: 404,
			code: "stream_not_found",
		});
	});

	test("delete existing succeeds; delete missing is 404", async () => {
		const n = streamName("del");
		await basin.streams.create({ stream: n });
		await basin.streams.delete({ stream: n });
		await rejectsWith(basin.streams.delete({ stream: streamName("missing") }), {
			status: 404,
			code: "stream_not_found",
		});
		const r = await raw("DELETE", `/streams/${encodeURIComponent(streamName("missing"))}`, {
			basin: basin.name,
		});
		assert.equal(r.status, 404);
	});

	test("raw delete: 202 with Content-Length: 0", async () => {
		const n = streamName("del0");
		await basin.streams.create({ stream: n });
		const r = await raw("DELETE", `/streams/${encodeURIComponent(n)}`, { basin: basin.name });
		assert.equal(r.status, 202);
		assert.equal(r.headers.get("content-length"), "0");
		assert.equal(r.text, "");
	});
});

describe("streams: reconfigure", () => {
	test("storage class, retention, timestamping, delete-on-empty (incl. 0)", async () => {
		const n = streamName("rc");
		await basin.streams.create({ stream: n });
		let cfg = await basin.streams.reconfigure({ stream: n, storageClass: "standard" });
		assert.equal(cfg.storageClass, "standard");
		cfg = await basin.streams.reconfigure({ stream: n, retentionPolicy: { ageSecs: 42 } });
		assert.deepEqual(cfg.retentionPolicy, { ageSecs: 42 });
		assert.equal(cfg.storageClass, "standard");
		cfg = await basin.streams.reconfigure({ stream: n, retentionPolicy: { infinite: {} } });
		assert.deepEqual(cfg.retentionPolicy, { infinite: {} });
		cfg = await basin.streams.reconfigure({ stream: n, timestamping: { mode: "arrival" } });
		assert.equal(cfg.timestamping.mode, "arrival");
		assert.equal(cfg.timestamping.uncapped, false);
		cfg = await basin.streams.reconfigure({ stream: n, timestamping: { uncapped: true } });
		assert.equal(cfg.timestamping.mode, "arrival");
		assert.equal(cfg.timestamping.uncapped, true);
		cfg = await basin.streams.reconfigure({ stream: n, deleteOnEmpty: { minAgeSecs: 30 } });
		assert.equal(cfg.deleteOnEmpty.minAgeSecs, 30);
		cfg = await basin.streams.reconfigure({ stream: n, deleteOnEmpty: { minAgeSecs: 0 } });
		assert.equal(cfg.deleteOnEmpty?.minAgeSecs ?? 0, 0);
		const got = await basin.streams.getConfig({ stream: n });
		assert.equal(got.storageClass, "standard");
		assert.deepEqual(got.retentionPolicy, { infinite: {} });
		assert.equal(got.timestamping.mode, "arrival");
		assert.equal(got.timestamping.uncapped, true);
		assert.equal(got.deleteOnEmpty?.minAgeSecs ?? 0, 0);
	});

	test("empty patch is a no-op preserving storage_class standard", async () => {
		const n = streamName("rc0");
		await basin.streams.create({
			stream: n,
			config: { storageClass: "standard", retentionPolicy: { ageSecs: 77 } },
		});
		const cfg = await basin.streams.reconfigure({ stream: n });
		assert.equal(cfg.storageClass, "standard");
		assert.deepEqual(cfg.retentionPolicy, { ageSecs: 77 });
		assert.deepEqual(cfg, await basin.streams.getConfig({ stream: n }));
	});

	test("null clears a field back to the default", async () => {
		const n = streamName("rcn");
		await basin.streams.create({ stream: n, config: { storageClass: "standard" } });
		const cfg = await basin.streams.reconfigure({ stream: n, storageClass: null });
		assert.equal(cfg.storageClass, "express");
	});

	test("missing stream is 404; retention age 0 is 422", async () => {
		await rejectsWith(basin.streams.reconfigure({ stream: streamName("missing"), storageClass: "standard" }), {
			status: 404,
			code: "stream_not_found",
		});
		const n = streamName("rc422");
		await basin.streams.create({ stream: n });
		await rejectsWith(basin.streams.reconfigure({ stream: n, retentionPolicy: { ageSecs: 0 } }), {
			status: 422,
			code: "invalid",
		});
	});
});

describe("streams: check tail", () => {
	test("new stream has tail 0; after 2 records tail is 2; missing is 404", async () => {
		const n = streamName("tail");
		await basin.streams.create({ stream: n });
		const st = basin.stream(n);
		const t0 = await st.checkTail();
		assert.equal(t0.tail.seqNum, 0);
		assert.equal(t0.tail.timestamp.getTime(), 0);
		const ack = await appendStrings(st, 2);
		const t2 = await st.checkTail();
		assert.equal(t2.tail.seqNum, 2);
		assert.equal(t2.tail.timestamp.getTime(), ack.end.timestamp.getTime());
		await rejectsWith(basin.stream(streamName("missing")).checkTail(), {
			status: 404,
			code: "stream_not_found",
		});
	});
});
