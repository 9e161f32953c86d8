// Usage metrics through the SDK's S2Metrics (s2.metrics.account, .basin,
// .stream): every metric set, every interval, and the errors the cloud
// service gives (server/usage.go, usage/). Timestamps go in as
// milliseconds; the SDK sends epoch seconds and returns Dates.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
	AppendInput,
	AppendRecord,
	basinName,
	makeClient,
	rejectsWith,
	streamName,
} from "./helpers.mjs";

const s2 = makeClient();
const HOUR = 3600 * 1000;
const range = (hours) => ({ start: Date.now() - hours * HOUR, end: Date.now() });

let basin = "";
let stream = "";
// Metered bytes of the appended records: 8 + body length each.
const STORED = 8 + 6 + 8 + 5;

before(async () => {
	basin = basinName("metrics");
	await s2.basins.create({ basin });
	stream = streamName("m");
	const b = s2.basin(basin);
	await b.streams.create({ stream, config: { storageClass: "standard" } });
	await b
		.stream(stream)
		.append(AppendInput.create([AppendRecord.string({ body: "record" }), AppendRecord.string({ body: "again" })]));
	await b.stream(stream).read({ start: { from: { seqNum: 0 } } });
});

function accumulations(resp) {
	return resp.values.map((v) => {
		assert.ok(v.accumulation, `expected accumulations, got ${JSON.stringify(v)}`);
		return v.accumulation;
	});
}

function sum(acc) {
	return acc.values.reduce((n, [, v]) => n + v, 0);
}

describe("account metrics", () => {
	test("active-basins lists the basin", async () => {
		const resp = await s2.metrics.account({ set: "active-basins", ...range(1) });
		assert.equal(resp.values.length, 1);
		assert.equal(resp.values[0].label.name, "active_basins");
		assert.ok(resp.values[0].label.values.includes(basin));
	});

	for (const interval of [undefined, "minute", "hour", "day"]) {
		test(`account-ops (${interval ?? "default"} interval)`, async () => {
			const resp = await s2.metrics.account({
				set: "account-ops",
				...range(interval === "day" ? 24 * 7 : 1),
				...(interval ? { interval } : {}),
			});
			const accs = accumulations(resp);
			const create = accs.find((a) => a.name === "create-basin");
			assert.ok(create, `no create-basin series in ${JSON.stringify(accs)}`);
			assert.equal(create.unit, "operations");
			assert.equal(create.interval, interval ?? "hour");
			assert.ok(create.values[0][0] instanceof Date);
			assert.ok(sum(create) >= 1);
		});
	}

	test("a far-past range is empty, not an error", async () => {
		const resp = await s2.metrics.account({ set: "active-basins", start: 0, end: HOUR });
		assert.deepEqual(resp.values[0].label.values, []);
	});

	test("missing start, end or both is 422", async () => {
		await rejectsWith(s2.metrics.account({ set: "active-basins", end: Date.now() }), { status: 422 });
		await rejectsWith(s2.metrics.account({ set: "active-basins", start: Date.now() - HOUR }), { status: 422 });
		await rejectsWith(s2.metrics.account({ set: "active-basins" }), { status: 422 });
	});

	test("an inverted, future or over-long range is 422", async () => {
		const now = Date.now();
		for (const r of [
			{ start: now, end: now - HOUR },
			{ start: now - HOUR, end: now + 600_000 },
			{ start: now - 40 * 24 * HOUR, end: now },
		]) {
			await rejectsWith(s2.metrics.account({ set: "active-basins", ...r }), { status: 422, code: "invalid" });
		}
	});
});

describe("basin metrics", () => {
	test("storage is an hourly gauge of stored bytes", async () => {
		for (const interval of [undefined, "hour"]) {
			const resp = await s2.metrics.basin({ basin, set: "storage", ...range(24), ...(interval ? { interval } : {}) });
			assert.equal(resp.values.length, 1);
			const g = resp.values[0].gauge;
			assert.equal(g.name, "storage");
			assert.equal(g.unit, "bytes");
			assert.equal(g.values.at(-1)[1], STORED);
		}
	});

	test("storage per minute or day is 422", async () => {
		for (const interval of ["minute", "day"]) {
			await rejectsWith(s2.metrics.basin({ basin, set: "storage", ...range(1), interval }), { status: 422 });
		}
	});

	for (const interval of [undefined, "minute", "hour", "day"]) {
		test(`append, read and basin operations (${interval ?? "default"} interval)`, async () => {
			const args = { basin, ...range(interval === "day" ? 24 * 7 : 1), ...(interval ? { interval } : {}) };
			const appendOps = accumulations(await s2.metrics.basin({ ...args, set: "append-ops" }));
			assert.deepEqual(appendOps.map((a) => a.name), ["standard", "express"]);
			assert.equal(sum(appendOps[0]), 1);
			assert.equal(appendOps[0].unit, "operations");
			assert.equal(appendOps[0].interval, interval ?? "minute");

			const appendBytes = accumulations(await s2.metrics.basin({ ...args, set: "append-throughput" }));
			assert.deepEqual(appendBytes.map((a) => [a.name, a.unit]), [["standard", "bytes"], ["express", "bytes"]]);
			assert.equal(sum(appendBytes[0]), STORED);

			const readOps = accumulations(await s2.metrics.basin({ ...args, set: "read-ops" }));
			assert.deepEqual(readOps.map((a) => a.name), ["unary", "streaming"]);
			assert.ok(sum(readOps[0]) >= 1);

			const readBytes = accumulations(await s2.metrics.basin({ ...args, set: "read-throughput" }));
			assert.equal(readBytes.length, 1);
			assert.equal(readBytes[0].unit, "bytes");
			assert.ok(sum(readBytes[0]) >= STORED);

			const basinOps = accumulations(await s2.metrics.basin({ ...args, set: "basin-ops" }));
			assert.ok(basinOps.some((a) => a.name === "create-stream"), JSON.stringify(basinOps));
		});
	}

	test("missing or inverted range is 422; unknown basin is 404", async () => {
		await rejectsWith(s2.metrics.basin({ basin, set: "storage", end: Date.now() }), { status: 422 });
		await rejectsWith(s2.metrics.basin({ basin, set: "storage", start: Date.now() - HOUR }), { status: 422 });
		await rejectsWith(s2.metrics.basin({ basin, set: "storage", start: Date.now(), end: Date.now() - HOUR }), { status: 422 });
		await rejectsWith(s2.metrics.basin({ basin: basinName("nobasin"), set: "storage", ...range(1) }), { status: 404, code: "basin_not_found" });
	});

	test("a far-past range is empty", async () => {
		const resp = await s2.metrics.basin({ basin, set: "storage", start: 0, end: HOUR });
		assert.deepEqual(resp.values[0].gauge.values, []);
	});
});

describe("stream metrics", () => {
	test("storage is a per-minute gauge", async () => {
		for (const interval of [undefined, "minute"]) {
			const resp = await s2.metrics.stream({ basin, stream, set: "storage", ...range(1), ...(interval ? { interval } : {}) });
			const g = resp.values[0].gauge;
			assert.equal(g.name, "storage");
			assert.equal(g.unit, "bytes");
			assert.equal(g.values.at(-1)[1], STORED);
		}
	});

	test("storage per hour or day is 422", async () => {
		for (const interval of ["hour", "day"]) {
			await rejectsWith(s2.metrics.stream({ basin, stream, set: "storage", ...range(1), interval }), { status: 422 });
		}
	});

	test("missing or inverted range is 422", async () => {
		await rejectsWith(s2.metrics.stream({ basin, stream, set: "storage", end: Date.now() }), { status: 422 });
		await rejectsWith(s2.metrics.stream({ basin, stream, set: "storage" }), { status: 422 });
		await rejectsWith(s2.metrics.stream({ basin, stream, set: "storage", start: Date.now(), end: Date.now() - HOUR }), { status: 422 });
	});

	test("a deleted stream's storage drops to zero", async () => {
		const b = s2.basin(basin);
		const name = streamName("gone");
		await b.streams.create({ stream: name });
		await b.stream(name).append(AppendInput.create([AppendRecord.string({ body: "x" })]));
		await b.streams.delete({ stream: name });
		const resp = await s2.metrics.stream({ basin, stream: name, set: "storage", ...range(1) });
		assert.equal(resp.values[0].gauge.values.at(-1)[1], 0);
	});
});
