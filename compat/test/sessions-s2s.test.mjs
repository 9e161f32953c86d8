// Session tests over the "s2s" transport (see sessions-shared.mjs), plus
// S2S frame compression, which only this transport uses (API.md 10.3).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AppendInput, AppendRecord, drain, freshBasin, freshStream, makeClient, range, seqNums } from "./helpers.mjs";
import { defineSessionTests } from "./sessions-shared.mjs";

defineSessionTests("s2s");

describe("[s2s] frame compression", () => {
	// zstd needs Node >= 22.15 in the SDK; gzip works everywhere.
	test("[s2s] gzip: compressed append frames and read frames round-trip", async () => {
		const s2 = makeClient({ compression: "gzip" });
		const basin = await freshBasin(s2, "gz");
		const plain = await freshStream(basin);
		const st = basin.stream(plain.name, { forceTransport: "s2s" });
		const big = (i) => `${i}:` + "compressible text ".repeat(200);
		const session = await st.appendSession();
		const tickets = [];
		for (let b = 0; b < 5; b++) {
			tickets.push(await session.submit(AppendInput.create(range(0, 4).map((i) => AppendRecord.string({ body: big(b * 4 + i) })))));
		}
		const acks = await Promise.all(tickets.map((t) => t.ack()));
		assert.deepEqual(
			acks.map((a) => [a.start.seqNum, a.end.seqNum]),
			range(0, 5).map((b) => [4 * b, 4 * b + 4]),
		);
		// A frame below the 1 KiB threshold goes uncompressed on the same
		// session. It is submitted only after the compressed ones are acked:
		// SDK 0.27.0 can put an uncompressed frame on the wire ahead of
		// compressed frames submitted earlier (compression is awaited per
		// frame), which would reorder the batches on the client side.
		const small = await session.submit(AppendInput.create([AppendRecord.string({ body: "small" })]));
		const smallAck = await small.ack();
		assert.equal(smallAck.start.seqNum, 20);
		assert.equal(smallAck.end.seqNum, 21);
		await session.close();
		const rs = await st.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 21 } } });
		const { records, error, timedOut } = await drain(rs, { timeoutMs: 5000 });
		assert.equal(error, undefined, String(error));
		assert.equal(timedOut, false);
		assert.deepEqual(seqNums(records), range(0, 21));
		assert.equal(records[7].body, big(7));
		assert.equal(records[20].body, "small");
		await st.close();
	});
});
