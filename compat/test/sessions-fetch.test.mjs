// Session tests over the "fetch" transport (see sessions-shared.mjs), plus
// wire-level checks of the SSE framing that the SDK's fetch transport parses
// (API.md 9.1-9.3).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { appendStrings, freshBasin, freshStream, makeClient, raw } from "./helpers.mjs";
import { defineSessionTests } from "./sessions-shared.mjs";

defineSessionTests("fetch");

/** Parse an SSE body into events ({event, id, data}). */
function parseSSE(text) {
	return text
		.split("\n\n")
		.filter((block) => block.trim().length > 0)
		.map((block) => {
			const ev = {};
			for (const line of block.split("\n")) {
				const i = line.indexOf(":");
				if (i <= 0) continue;
				const k = line.slice(0, i);
				const v = line.slice(i + 1).replace(/^ /, "");
				ev[k] = ev[k] === undefined ? v : `${ev[k]}\n${v}`;
			}
			return ev;
		});
}

describe("[fetch] SSE wire format", () => {
	const s2 = makeClient();

	test("[fetch] bounded SSE read: headers, batch id counters, terminal [DONE]", async () => {
		const basin = await freshBasin(s2, "sse");
		const st = await freshStream(basin);
		await appendStrings(st, 3, "e");
		const r = await raw("GET", `/streams/${encodeURIComponent(st.name)}/records?seq_num=0&count=2`, {
			basin: basin.name,
			headers: { accept: "text/event-stream" },
		});
		assert.equal(r.status, 200, r.text);
		assert.match(r.headers.get("content-type") ?? "", /^text\/event-stream/);
		assert.match(r.headers.get("cache-control") ?? "", /no-cache/);
		const events = parseSSE(r.text);
		const batches = events.filter((e) => e.event === "batch");
		assert.ok(batches.length >= 1, r.text);
		const all = batches.flatMap((b) => JSON.parse(b.data).records);
		assert.deepEqual(
			all.map((x) => [x.seq_num, x.body]),
			[
				[0, "e0"],
				[1, "e1"],
			],
		);
		// id = last seq_num, cumulative count, cumulative metered bytes (10 per record).
		assert.equal(batches.at(-1).id, "1,2,20");
		const last = events.at(-1);
		assert.equal(last.event, undefined);
		assert.equal(last.data, "[DONE]");
	});

	test("[fetch] following SSE read: immediate ping with tail, [DONE] when wait expires", async () => {
		const basin = await freshBasin(s2, "sse2");
		const st = await freshStream(basin);
		await appendStrings(st, 2);
		const t0 = Date.now();
		const r = await raw("GET", `/streams/${encodeURIComponent(st.name)}/records?tail_offset=0&wait=1`, {
			basin: basin.name,
			headers: { accept: "text/event-stream" },
		});
		const el = Date.now() - t0;
		assert.equal(r.status, 200, r.text);
		const events = parseSSE(r.text);
		assert.equal(events[0].event, "ping", r.text);
		const ping = JSON.parse(events[0].data);
		assert.equal(ping.tail.seq_num, 2);
		assert.equal(typeof ping.timestamp, "number");
		assert.equal(events.at(-1).data, "[DONE]");
		assert.ok(el >= 900 && el < 5000, `elapsed ${el} ms`);
	});
});
