package server

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/objstore"
)

// TestStoreKinds runs one pass over every transport against each kind of
// object store, then restarts the server on the same store and reads
// everything back. It speaks through the client package: what it checks
// is the stores under each transport, not the wire encoding, which the
// other tests here check byte by byte.
func TestStoreKinds(t *testing.T) {
	storeKinds(t, func(t *testing.T, store objstore.Store) {
		ctx := context.Background()
		e := newEnv(t, envOptions{store: store})
		e.basinAndStream("kinds", nil)
		// Clients close their idle connections before the server shuts
		// down, or it would wait out each HTTP/2 connection's grace.
		var clients []*client.Client
		closeClients := func() {
			for _, c := range clients {
				c.Close()
			}
			clients = nil
		}
		open := func(e *env, format client.Format) *client.Stream {
			c, err := client.New(client.Config{AccountEndpoint: e.base, Format: format, MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
			return c.Basin(testBasin).Stream("kinds")
		}
		viaJSON, viaProto := open(e, client.FormatJSON), open(e, client.FormatProtobuf)
		one := func(body string) client.AppendInput {
			return client.AppendInput{Records: []client.AppendRecord{{Body: []byte(body)}}}
		}
		if _, err := viaJSON.Append(ctx, one("json")); err != nil {
			t.Fatal(err)
		}
		if _, err := viaProto.Append(ctx, one("\x00\x01\x02")); err != nil {
			t.Fatal(err)
		}
		session, err := viaProto.AppendSession(ctx, client.AppendSessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p1, _ := session.Submit(ctx, one("s2s-1"))
		p2, _ := session.Submit(ctx, one("s2s-2"))
		if ack, err := p2.Wait(ctx); err != nil || ack.Start.SeqNum != 3 {
			t.Fatalf("second session ack %+v %v", ack, err)
		}
		if _, err := p1.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if err := session.Close(); err != nil {
			t.Fatal(err)
		}

		want := []string{"json", "\x00\x01\x02", "s2s-1", "s2s-2"}
		same := func(how string, recs []client.SequencedRecord) {
			t.Helper()
			if len(recs) != len(want) {
				t.Fatalf("%s: %d records, want %d", how, len(recs), len(want))
			}
			for i, r := range recs {
				if string(r.Body) != want[i] || r.SeqNum != uint64(i) {
					t.Fatalf("%s: record %d is %d %q, want %q", how, i, r.SeqNum, r.Body, want[i])
				}
			}
		}
		check := func(e *env) {
			t.Helper()
			for _, s := range []*client.Stream{open(e, client.FormatJSON), open(e, client.FormatProtobuf)} {
				b, err := s.Read(ctx, client.ReadOptions{Start: client.FromSeqNum(0)})
				if err != nil {
					t.Fatal(err)
				}
				same("unary read", b.Records)
				count := uint64(4)
				for _, sse := range []bool{false, true} {
					openSession := s.ReadSession
					if sse {
						openSession = s.ReadSessionSSE
					}
					rs, err := openSession(ctx, client.ReadOptions{Start: client.FromSeqNum(0), Count: &count})
					if err != nil {
						t.Fatal(err)
					}
					var got []client.SequencedRecord
					for {
						b, err := rs.Next()
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
						got = append(got, b.Records...)
					}
					rs.Close()
					same("read session", got)
				}
			}
		}
		check(e)
		closeClients()
		e.close()

		again := newEnv(t, envOptions{store: store})
		check(again)
		closeClients()
	})
}
