package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/s2lite/s2lite/stream"
)

// POST /v1/streams/{stream}/import, an s2lite extension (not in the S2
// API): writes exported records back at their own sequence numbers and
// timestamps, and with "finish" sets the tail, trim point and fencing
// token, so a stream moves between servers without renumbering (s2lite
// export and import). Bytes are base64, as with s2-format: base64. It
// rewrites history, so it is off unless the server was started with
// --enable-import.

type importJSON struct {
	Records []importRecordJSON `json:"records"`
	Finish  *importFinishJSON  `json:"finish"`
}

type importRecordJSON struct {
	SeqNum    *uint64     `json:"seq_num"`
	Timestamp *uint64     `json:"timestamp"`
	Headers   [][2]string `json:"headers"`
	Body      string      `json:"body"`
}

type importFinishJSON struct {
	Tail         jsonPosition `json:"tail"`
	TrimPoint    uint64       `json:"trim_point"`
	FencingToken string       `json:"fencing_token"`
}

func (s *Server) importRecords(w http.ResponseWriter, r *http.Request, params []string) error {
	if !s.opts.EnableImport {
		return newAPIError(http.StatusForbidden, "permission_denied", "importing records is disabled on this server: start it with --enable-import")
	}
	basin, name, err := streamTarget(r, params)
	if err != nil {
		return err
	}
	key, aerr := encryptionKey(r)
	if aerr != nil {
		return aerr
	}
	defer key.Zero()
	var opts []stream.OpenOption
	if key != nil {
		opts = append(opts, stream.WithEncryptionKey(key))
	}
	body, aerr := readJSONBody(r, false)
	if aerr != nil {
		return aerr
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in importJSON
	if err := dec.Decode(&in); err != nil {
		return badJSON("Failed to deserialize the JSON body into the target type: %v", err)
	}
	recs := make([]stream.ImportRecord, len(in.Records))
	for i, jr := range in.Records {
		if jr.SeqNum == nil || jr.Timestamp == nil {
			return badJSON("record %d: seq_num and timestamp are required", i)
		}
		rec := stream.ImportRecord{SeqNum: *jr.SeqNum, Timestamp: *jr.Timestamp}
		var derr error
		if rec.Body, derr = base64.StdEncoding.DecodeString(jr.Body); derr != nil {
			return invalid("invalid Base64 encoding")
		}
		for _, h := range jr.Headers {
			n, err1 := base64.StdEncoding.DecodeString(h[0])
			v, err2 := base64.StdEncoding.DecodeString(h[1])
			if err1 != nil || err2 != nil {
				return invalid("invalid Base64 encoding")
			}
			rec.Headers = append(rec.Headers, stream.Header{Name: n, Value: v})
		}
		recs[i] = rec
	}
	if len(recs) > 0 {
		if _, err := s.svc.Import(r.Context(), basin, name, recs, opts...); err != nil {
			return toAPIError(err, fromJSON)
		}
	}
	if f := in.Finish; f != nil {
		tail := stream.StreamPosition{SeqNum: f.Tail.SeqNum, Timestamp: f.Tail.Timestamp}
		if err := s.svc.FinishImport(r.Context(), basin, name, tail, f.TrimPoint, f.FencingToken); err != nil {
			return toAPIError(err, fromJSON)
		}
	}
	tail, terr := s.svc.CheckTail(r.Context(), basin, name)
	if terr != nil {
		return toAPIError(terr, fromPath)
	}
	writeJSON(w, r, http.StatusOK, jsonTailResponse{Tail: positionJSON(tail)})
	return nil
}
