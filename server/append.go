package server

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/s2lite/s2lite/stream"
)

// Unary append (API 7.3, 7.8); S2S append sessions are in s2s_append.go.

func meteredBytes(in stream.AppendInput) uint64 {
	var n uint64
	for _, r := range in.Records {
		n += r.MeteredBytes()
	}
	return n
}

func (s *Server) append(w http.ResponseWriter, r *http.Request, params []string) error {
	basin, name, err := streamTarget(r, params)
	if err != nil {
		return err
	}
	format, err := parseFormat(r)
	if err != nil {
		return err
	}
	opts, key, err := dataPlaneOptions(r)
	if err != nil {
		return err
	}
	defer key.Zero()
	ct := contentType(r)
	if ct == mediaTypeS2S {
		return s.appendSession(w, r, basin, name, opts)
	}
	var in stream.AppendInput
	if isProtobufMediaType(ct) {
		body, err := readBodyCounting(r, badProto, func(r io.Reader) io.Reader { return countRecords(r, true) })
		if err != nil {
			return err
		}
		var derr error
		if in, derr = decodeAppendInput(body); derr != nil {
			var limit *errBatchLimit
			if errors.As(derr, &limit) {
				return invalid("%s", limit.msg)
			}
			return badProto("failed to decode AppendInput: %v", derr)
		}
	} else {
		body, err := readJSONBodyCounting(r, false, func(r io.Reader) io.Reader { return countRecords(r, false) })
		if err != nil {
			return err
		}
		if in, err = decodeAppendInputJSON(body, format); err != nil {
			return err
		}
		// Decoding copied everything out of the body.
		requestLease(r).Shrink(int64(cap(body)))
	}

	if err := allowCommands(r, basin, name, in); err != nil {
		return err
	}
	metered := meteredBytes(in)
	requestLease(r).Account(decodedSize(in, metered))
	s.metrics.appendInflight.Add(float64(metered))
	start := time.Now()
	actx, stopAbort := s.abortable(r.Context())
	ack, aerr := s.svc.Append(actx, basin, name, in, opts...)
	aerr = abortedErr(actx, aerr)
	stopAbort()
	s.metrics.appendInflight.Sub(float64(metered))
	if aerr != nil {
		return toAPIError(aerr, fromPath)
	}
	s.metrics.observeAppend(len(in.Records), metered, time.Since(start))

	if wantsProtobuf(r) {
		writeBody(w, r, http.StatusOK, contentTypeProtobuf, encodeAppendAck(ack))
		return nil
	}
	writeJSON(w, r, http.StatusOK, appendAckJSON(ack))
	return nil
}
