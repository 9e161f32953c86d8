package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

func writeServerMarkdown(path string, r *ServerReport) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	r.writeHead(&b, "s2lite server benchmark")
	p("The server runs as its own process on loopback against MinIO on loopback, with a counting reverse proxy in between that sees every object-store request. ")
	p("Every baseline (raw PUT, raw GET) is measured in the same run with the same client library and settings as the server (minio-go through `objstore.S3`), through an identical proxy, right after the figure it is compared with. ")
	p("Client, proxy, server and MinIO share the machine's CPUs, so absolute figures drift run to run: read the ratios.\n\n")
	p("Proxy overhead: PUT 1 KiB p50 %.2f ms direct, %.2f ms through the proxy.\n\n", r.ProxyOverhead.Direct.P50, r.ProxyOverhead.Proxied.P50)
	r.writeDurations(&b)

	p("\n## Targets\n\n| target | verdict | figures |\n|---|---|---|\n")
	for _, v := range r.Targets {
		verdict := "**not met**"
		if v.Met {
			verdict = "met"
		}
		p("| %s | %s | %s |\n", v.Target, verdict, v.Figures)
	}

	writeWhereTimeGoes(&b, r)

	if len(r.Latency) > 0 {
		p("\n## Append ack latency, open loop\n\n")
		p("Batches are sent on a fixed timetable at the given rate (batches/s) and latency runs from each batch's *scheduled* send time to its ack, so a slow ack never delays later sends. ")
		p("`unary` is a JSON append over HTTP/1.1 (a connection per request in flight); `session` is one S2S append session over h2c, pipelined. ")
		p("Raw PUT: sequential put-if-absent of the average WAL object size of that run. `WAL PUT` is the WAL PUT duration seen at the proxy, so `ack − WAL PUT` is the time spent outside the object store. ")
		p("`lag` is how late the client started sends (part of the latency, reported to show the generator keeps up).\n\n")
		p("![ack latency by rate](latency-by-rate.svg)\n\n")
		p("| path | record | batch | rate/s | acked/s | MiB/s | p50 ms | p90 | p99 | p99.9 | max | n | raw PUT p50 / p99 (bytes) | ratio p50 / p99 | WAL obj per batch | WAL PUT p50 | ack − WAL PUT p50 | lag p50 | cores server / MinIO / bench | note |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, l := range r.Latency {
			note := ""
			if l.Saturated {
				note = "saturated"
			}
			if l.Errors > 0 {
				note += fmt.Sprintf(" %d errors: %s", l.Errors, l.FirstErr)
			}
			if l.Unfinished > 0 {
				note += fmt.Sprintf(" %d unfinished", l.Unfinished)
			}
			p("| %s | %s | %d | %g | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %.2f / %.2f (%d) | %.2f / %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
				l.Path, sizeName(l.RecordBytes), l.BatchRecords, l.Rate, l.AchievedRate, l.MiBPerSec,
				l.Ack.P50, l.Ack.P90, l.Ack.P99, l.Ack.P999, l.Ack.Max, l.Ack.N,
				l.RawPut.P50, l.RawPut.P99, l.AvgWALObjectBytes, l.P50Ratio, l.P99Ratio,
				l.WALObjectsPerBatch, l.WALPut.P50, l.Ack.P50-l.WALPut.P50, l.SendLag.P50, coresCell(l.CPU), strings.TrimSpace(note))
		}
	}
	if st := r.StoreStalls; st != nil {
		p("\n### The object store's own stalls\n\n")
		p("Raw put-if-absent requests of %d B at %g/s for %.0f s, straight to MinIO through the baseline proxy, with the server idle: p50 %.2f, p99 %.2f, p99.9 %.2f, max %.2f ms (n=%d). ",
			st.Bytes, st.Rate, st.Seconds, st.Put.P50, st.Put.P99, st.Put.P999, st.Put.Max, st.Put.N)
		if len(st.StallsAtS) == 0 {
			p("No PUT took longer than %.0f ms.\n", st.Threshold)
		} else {
			p("PUTs slower than %.0f ms, at seconds %v: %v ms. ", st.Threshold, st.StallsAtS, st.StallsMS)
			p("A latency point's baseline lasts a few seconds and usually misses such a stall; an append run that meets one passes it on to every write acknowledged after the stalled WAL PUT, since acks are in log order.\n")
		}
	}

	if len(r.Tail) > 0 {
		p("\n## Tail latency: append ack to a following reader\n\n")
		p("1 KiB records, one per batch, appended at a fixed rate through an append session while an S2S read session and an SSE session follow the stream from the start. ")
		p("`read − ack` is when the reader got a record minus when the appender got its ack (same process, same clock; negative means the reader was first).\n\n")
		p("| reader | rate/s | read − ack p50 ms | p90 | p99 | p99.9 | max | read − scheduled p50 | p99 | ack p50 | n | missing |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range r.Tail {
			p("| %s | %g | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f | %d | %d |\n", t.Reader, t.Rate,
				t.BeyondAck.P50, t.BeyondAck.P90, t.BeyondAck.P99, t.BeyondAck.P999, t.BeyondAck.Max,
				t.EndToEnd.P50, t.EndToEnd.P99, t.Ack.P50, t.BeyondAck.N, t.Missing)
		}
	}

	if len(r.Throughput) > 0 {
		p("\n## Maximum append throughput, closed loop\n\n")
		p("A fixed number of batches in flight (column `in flight`, in total), as fast as acks return. User MiB/s counts record bodies. ")
		p("Raw PUT: put-if-absent of the average WAL object size of that run, one client sequentially and four clients (the server's WAL PUT concurrency). ")
		p("Requests per MiB appended are counted at the proxy during the measured window (flushes and compactions that happened to run then included).\n\n")
		p("![throughput by record size](throughput-by-record-size.svg)\n\n")
		p("| workload | in flight | MiB/s | records/s | ack p50 / p99 ms | WAL obj/s | avg WAL obj | WAL PUT p50 ms | WAL PUTs in flight | raw PUT 1 / 4 clients MiB/s | ratio to 1 / 4 | PUT / GET / LIST / DELETE per MiB | PUT bytes per user byte | stalls | cores server / MinIO / bench |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range r.Throughput {
			name := t.Name
			if t.SetupSeconds > 0 {
				name += fmt.Sprintf(" (creating the streams took %.1f s)", t.SetupSeconds)
			}
			if t.Error != "" {
				name += " (error: " + t.Error + ")"
			}
			p("| %s | %d | %.2f | %.0f | %.1f / %.1f | %.0f | %s | %.2f | %.2f | %.1f / %.1f | %.2f / %.2f | %.2f / %.3f / %.3f / %.3f | %.2f | %.0f | %s |\n",
				name, t.InFlight, t.MiBPerSec, t.RecordsSec, t.Ack.P50, t.Ack.P99, t.WALObjectsSec, sizeName(t.AvgWALObjectBytes), t.WALPut.P50, t.WALInFlight,
				t.RawPut1MiBSec, t.RawPut4MiBSec, t.RatioTo1, t.RatioTo4,
				t.RequestsPerMiB["PUT"], t.RequestsPerMiB["GET"], t.RequestsPerMiB["LIST"], t.RequestsPerMiB["DELETE"], t.PutBytesPerMiB, t.Stalls, coresCell(t.CPU))
		}
	}

	if c := r.Cost; c != nil {
		p("\n## Request cost and write amplification after compaction\n\n")
		p("Everything the throughput server sent to the object store from start to finish (warm-ups included), after waiting %.0f s for flushes and compactions to settle, per MiB of record bodies acknowledged (%.0f MiB). ", c.SettleSeconds, c.UserMiB)
		p("Write amplification is bytes PUT (WAL, tables, manifests) per user byte; %.1f MiB were still in the memtable, not yet flushed.\n\n", c.UnflushedMiB)
		p("![request cost](request-cost.svg)\n\n")
		p("| per MiB appended | PUT | GET | LIST | DELETE |\n|---|---|---|---|---|\n| requests | %.2f | %.3f | %.4f | %.4f |\n\n", c.PutsPerMiB, c.GetsPerMiB, c.ListsPerMiB, c.DeletesPerMiB)
		p("WAL %.0f MiB, tables %.0f MiB, manifests %.2f MiB PUT; %.0f flushes, %.0f compactions, %.0f moves. Write amplification **%.2f** (tables alone %.2f).\n\n", c.WALMiB, c.SSTMiB, c.ManifestMiB, c.Flushes, c.Compactions, c.Moves, c.WriteAmp, c.WriteAmpSST)
		p("| request | object | count | MiB |\n|---|---|---|---|\n")
		ks := make([]string, 0, len(c.Requests))
		for k := range c.Requests {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			op, class, _ := strings.Cut(k, " ")
			p("| %s | %s | %d | %.2f |\n", op, class, c.Requests[k].Requests, float64(c.Requests[k].Bytes)/(1<<20))
		}
	}

	if c := r.CatchUp; c != nil {
		p("\n## Catch-up reads\n\n")
		p("A %.0f MiB stream of %s records, followed by %.0f MiB appended to another stream so that the first is entirely in tables (%d tables, %.0f MiB in all). ", c.StreamMiB, sizeName(c.RecordBytes), c.FillerMiB, c.Tables, c.TableMiB)
		p("Cold: read from the start with one read session right after restarting the server on the same bucket path (empty block cache). Warm: the same read again. ")
		p("Raw GET: the same tables read whole, one request at a time, through an identical proxy (MinIO's page cache is warm for both).\n\n")
		p("| read | session | s | MiB/s | store GETs | MiB fetched | s in GETs (summed at the proxy) | cores server / MinIO / bench |\n|---|---|---|---|---|---|---|---|\n")
		for i, r := range c.Cold {
			p("| cold (restart %d, %.2f s to healthy) | %s | %.3f | %.1f | %d | %.1f | %.3f | %s |\n", i+1, c.RestartSeconds[i], r.Path, r.Seconds, r.MiBPerSec, r.GETs, r.GETMiB, r.GETSeconds, coresCell(r.CPU))
		}
		for _, r := range c.Warm {
			p("| warm | %s | %.3f | %.1f | %d | %.1f | %.3f | %s |\n", r.Path, r.Seconds, r.MiBPerSec, r.GETs, r.GETMiB, r.GETSeconds, coresCell(r.CPU))
		}
		for _, r := range c.Warm {
			if r.CPU["bench"] >= 0.8 {
				p("\nThe warm %s reads kept the bench process at %.2f cores (decoding what it read): they are bound by the client, not the server.\n", r.Path, r.CPU["bench"])
				break
			}
		}
		p("\nRaw GET of the tables: %.1f MiB/s whole objects, %.1f MiB/s in 1 MiB ranges (one client). Cold over raw: %.2f. Warm S2S average: %.1f MiB/s.\n", c.RawGetMiBSec, c.RawRangedMiBSec, c.ColdRatio, c.WarmMiBSec)
	}
	if c := r.Cipher; c != nil {
		writeCipherSection(&b, c)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeCipherSection renders the cipher phase: encrypted streams against a
// plain one.
func writeCipherSection(b *strings.Builder, c *CipherResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## Encrypted streams against a plain one\n\n")
	p("Three basins on one server, one plain and one per `stream_cipher`; appends and reads on the encrypted streams carry `s2-encryption-key`. ")
	p("Ack latency: %s x %d at %g batches/s, open loop as above, the three streams one after another on each path. ", sizeName(c.RecordBytes), c.BatchRecords, c.Rate)
	p("Ratios are to the plain stream on the same path.\n\n")
	p("| path | cipher | acked/s | p50 ms | p90 | p99 | max | n | ratio p50 / p99 | WAL PUT p50 | ack − WAL PUT p50 | cores server / MinIO / bench | note |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range c.Latency {
		note := ""
		if l.Saturated {
			note = "saturated"
		}
		if l.Errors > 0 {
			note += fmt.Sprintf(" %d errors: %s", l.Errors, l.FirstErr)
		}
		p("| %s | %s | %.1f | %.2f | %.2f | %.2f | %.2f | %d | %.2f / %.2f | %.2f | %.2f | %s | %s |\n",
			l.Path, l.Cipher, l.AchievedRate, l.Ack.P50, l.Ack.P90, l.Ack.P99, l.Ack.Max, l.Ack.N, l.P50Ratio, l.P99Ratio,
			l.WALPut.P50, l.Ack.P50-l.WALPut.P50, coresCell(l.CPU), strings.TrimSpace(note))
	}
	p("\nCatch-up: a %.0f MiB stream of %s records per variant, the three filled at once, then %.0f MiB to a plain stream so that all three are in tables; this server runs with a %s block cache, which holds the three. ", c.StreamMiB, sizeName(c.RecordBytes), c.FillerMiB, c.BlockCache)
	p("After one untimed read of each (block cache filled), rounds of %d S2S reads from the start per stream, back to back, the streams interleaved; the median over rounds is given.\n\n", c.ReadsPerSample)
	p("| cipher | warm S2S MiB/s (median) | ratio to plain | reads MiB/s | server CPU ms per MiB | store GETs | fill MiB/s (concurrent) |\n|---|---|---|---|---|---|---|\n")
	for _, cu := range c.CatchUp {
		var reads []string
		var gets int64
		for _, r := range cu.Reads {
			reads = append(reads, fmt.Sprintf("%.0f", r.MiBPerSec))
			gets += r.GETs
		}
		p("| %s | %.1f | %.2f | %s | %.2f | %d | %.1f |\n", cu.Cipher, cu.MiBPerSec, cu.Ratio, strings.Join(reads, ", "), cu.ServerCPUMsPerMiB, gets, cu.FillMiBSec)
	}
}

// writeWhereTimeGoes summarizes the diagnostic figures: time outside the
// object store, JSON against protobuf, WAL PUT concurrency, read GETs.
func writeWhereTimeGoes(b *strings.Builder, r *ServerReport) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## Where the time goes\n\n")
	if len(r.Latency) > 0 {
		for _, path := range []string{"unary", "session"} {
			var outside, putRatio []float64
			for _, l := range r.Latency {
				if l.Path == path && l.Ack.N > 0 && l.RawPut.P50 > 0 {
					outside = append(outside, l.Ack.P50-l.WALPut.P50)
					putRatio = append(putRatio, l.WALPut.P50/l.RawPut.P50)
				}
			}
			if len(outside) == 0 {
				continue
			}
			p("- Ack latency, %s: ack p50 minus the WAL PUT p50 seen at the proxy is %.2f ms at the median point (range %.2f to %.2f ms); the server's WAL PUTs themselves take %.2fx the paced raw PUT p50 at the median point (range %.2fx to %.2fx): above 1 when PUTs overlap or the server's own work competes with MinIO for the CPUs.\n",
				path, median(outside), minOf(outside), maxOf(outside), median(putRatio), minOf(putRatio), maxOf(putRatio))
		}
		for _, l := range r.Latency {
			if l.Path != "unary-proto" {
				continue
			}
			var js, ss float64
			for _, o := range r.Latency {
				if o.RecordBytes == l.RecordBytes && o.BatchRecords == l.BatchRecords && o.Rate == l.Rate {
					switch o.Path {
					case "unary":
						js = o.Ack.P50
					case "session":
						ss = o.Ack.P50
					}
				}
			}
			p("- %s x %d at %g/s, ack p50: %.1f ms as JSON over HTTP/1.1, %.1f ms as protobuf over HTTP/1.1 (JSON − protobuf: %+.1f ms, the server's JSON handling when large), %.1f ms in an S2S session.\n",
				sizeName(l.RecordBytes), l.BatchRecords, l.Rate, js, l.Ack.P50, js-l.Ack.P50, ss)
		}
	}
	for _, t := range r.Throughput {
		if t.Path == "session" && t.Streams == 1 && t.RecordBytes == 1024 && t.BatchRecords == 1000 {
			rawMs := 0.0
			if t.RawPut1MiBSec > 0 {
				rawMs = float64(t.AvgWALObjectBytes) / (1 << 20) / t.RawPut1MiBSec * 1000
			}
			p("- One stream, 1 KiB x 1000, session: %.1f WAL PUTs in flight on average (the server allows 4), objects of %s, WAL PUT p50 %.1f ms at the proxy against %.1f ms for one raw PUT of that size alone; cores used (server / MinIO / bench): %s. ",
				t.WALInFlight, sizeName(t.AvgWALObjectBytes), t.WALPut.P50, rawMs, coresCell(t.CPU))
			if t.WALInFlight < 3 {
				p("With fewer than 4 PUTs in flight on average the WAL PUT slots are not what limits throughput: the time goes in the server before the PUT (receiving, decoding, sequencing, encoding the WAL object) or in waiting for CPU.\n")
			} else {
				p("The WAL PUT slots are nearly always busy: PUT bandwidth at the server's PUT concurrency limits throughput.\n")
			}
		}
	}
	if c := r.CatchUp; c != nil && len(c.Cold) > 0 {
		cold := c.Cold[0]
		if cold.GETs > 0 {
			p("- Cold catch-up: %d GETs averaging %.0f KiB for %.0f MiB read; their summed duration is %.3f s of the read's %.3f s (readahead overlaps them with decoding and sending); cores used (server / MinIO / bench): %s.\n",
				cold.GETs, cold.GETMiB*1024/float64(cold.GETs), c.StreamMiB, cold.GETSeconds, cold.Seconds, coresCell(cold.CPU))
		}
		if rawMS, coldMS := cpuPerMiB(c.RawGetCPU, c.RawGetMiBSec), cpuPerMiB(cold.CPU, cold.MiBPerSec); rawMS > 0 && coldMS > 0 {
			p("- CPU per MiB delivered, all processes: raw GET %.2f ms (cores server / MinIO / bench: %s), cold catch-up %.2f ms, of which the server %.2f ms. At that cost per MiB, both of the machine's 2 cores fully used would deliver at most %.0f MiB/s of cold catch-up, %.0f%% of raw GET.\n",
				rawMS, coresCell(c.RawGetCPU), coldMS, cpuPerMiB(map[string]float64{"server": cold.CPU["server"]}, cold.MiBPerSec), 2000/coldMS, 100*2000/coldMS/c.RawGetMiBSec)
		}
		for _, w := range c.Warm {
			if w.Path == "s2s" {
				p("- Warm catch-up (no GETs): %.1f MiB/s, cores used (server / MinIO / bench) %s: the read path's CPU cost per byte bounds it.\n", w.MiBPerSec, coresCell(w.CPU))
				break
			}
		}
	}
	p("\n")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// cpuPerMiB is the CPU milliseconds, summed over processes, spent per MiB
// at the given bandwidth; 0 when unknown.
func cpuPerMiB(c map[string]float64, mibPerSec float64) float64 {
	var sum float64
	for _, v := range c {
		sum += v
	}
	if sum == 0 || mibPerSec <= 0 {
		return 0
	}
	return sum / mibPerSec * 1000
}

func coresCell(c map[string]float64) string {
	if len(c) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f", c["server"], c["minio"], c["bench"])
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 10<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%d B", n)
}
