package server

import (
	"net/http"
	"testing"

	"github.com/s2lite/s2lite/objstore"
)

// TestStoreKinds runs one pass over every transport against each kind of
// object store, then restarts the server on the same store and reads
// everything back.
func TestStoreKinds(t *testing.T) {
	storeKinds(t, func(t *testing.T, store objstore.Store) {
		e := newEnv(t, envOptions{store: store})
		e.basinAndStream("kinds", nil)
		hb := []string{"s2-basin", testBasin}
		path := "/v1/streams/kinds/records"

		e.appendJSON("kinds", "json")
		e.call("POST", path, pbInput(t, pbRecord(t, -1, []byte{0, 1, 2})).marshal(t), append(hb, "content-type", "application/protobuf")...).
			expect(t, http.StatusOK)
		session, _ := e.openS2S("POST", path, hb...)
		session.send(pbInput(t, pbRecord(t, -1, []byte("s2s-1"))).marshal(t), 0)
		session.send(pbInput(t, pbRecord(t, -1, []byte("s2s-2"))).marshal(t), 0)
		session.expectMessage("AppendAck")
		session.expectMessage("AppendAck")
		session.closeInput()
		session.expectEnd()

		want := []string{"json", "\x00\x01\x02", "s2s-1", "s2s-2"}
		check := func(e *env) {
			t.Helper()
			r := e.call("GET", path+"?seq_num=0", nil, append(hb, "accept", "application/protobuf")...).expect(t, http.StatusOK)
			if got := pbBodies(unmarshalPB(t, "ReadBatch", r.body)); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[3] != want[3] {
				t.Fatalf("unary read %q", got)
			}
			sse, _ := e.openSSE(path+"?seq_num=0&count=4", hb...)
			if b := batchOf(t, sse.expect("batch")); len(b.Records) != 4 || b.Records[2].Body != "s2s-1" {
				t.Fatalf("SSE batch %+v", b)
			}
			sse.expectDone()
			rd, _ := e.openS2S("GET", path+"?seq_num=0&count=4", hb...)
			if got := pbBodies(rd.expectMessage("ReadBatch")); len(got) != 4 || got[3] != "s2s-2" {
				t.Fatalf("S2S read %q", got)
			}
			rd.expectEnd()
		}
		check(e)
		e.close()

		again := newEnv(t, envOptions{store: store})
		check(again)
	})
}
