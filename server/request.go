package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/s2lite/s2lite/internal/membudget"
	"github.com/s2lite/s2lite/stream"
)

// Request headers (API 1.5) and bodies. Each helper returns an *apiError
// with the code the API assigns to a failure at that point of the
// extraction order (API 1.8).

const (
	headerBasin         = "S2-Basin"
	headerRequestToken  = "S2-Request-Token"
	headerFormat        = "S2-Format"
	headerEncryptionKey = "S2-Encryption-Key"
	headerLastEventID   = "Last-Event-Id"
	headerProvision     = "S2-Provision-Result"
	headerStreamConfig  = "S2-Stream-Config"

	mediaTypeS2S = "s2s/proto"
	mediaTypeSSE = "text/event-stream"

	// maxUnaryBody bounds a unary request body after decompression. A
	// maximal append batch (1 MiB metered) in JSON with base64 or escaped
	// bytes is several times larger than 1 MiB.
	maxUnaryBody = 16 << 20
)

// headerValue returns the first value of a header, trimmed, and whether it
// was present. A value that is not UTF-8 is a bad_header.
func headerValue(r *http.Request, name string) (string, bool, *apiError) {
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		return "", false, nil
	}
	if !utf8.ValidString(vs[0]) {
		return "", true, badHeader("header `%s` is not valid UTF-8", strings.ToLower(name))
	}
	return vs[0], true, nil
}

// basinFromHeader is the basin of a /v1/streams* request (API 1.3).
func basinFromHeader(r *http.Request) (string, *apiError) {
	v, ok, err := headerValue(r, headerBasin)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", badHeader("Missing header `s2-basin`")
	}
	if err := stream.ValidateBasinName(v); err != nil {
		return "", toAPIError(err, fromHeader)
	}
	return v, nil
}

// requestToken is the optional idempotency token of a create.
func requestToken(r *http.Request) (string, *apiError) {
	v, _, err := headerValue(r, headerRequestToken)
	if err != nil {
		return "", err
	}
	if err := stream.ValidateRequestToken(v); err != nil {
		return "", toAPIError(err, fromHeader)
	}
	return v, nil
}

// autoCreateOptions parses the optional s2-stream-config header, which
// SDKs (TypeScript since 0.27) send on appends, reads and session connects:
// a JSON StreamConfig, the shape of a create-stream config, for the stream
// in case the request auto-creates it. A value that does not decode is a
// header problem (400 bad_header); semantic problems (a zero retention
// age) are left to the stream package and are 422 invalid, as in a
// create-stream body.
func autoCreateOptions(r *http.Request) ([]stream.OpenOption, *apiError) {
	v, ok, err := headerValue(r, headerStreamConfig)
	if err != nil || !ok {
		return nil, err
	}
	config, derr := decodeStreamConfigHeader(json.RawMessage(v))
	if derr != nil {
		return nil, badHeader("invalid `s2-stream-config` header: %v", derr)
	}
	return []stream.OpenOption{stream.WithAutoCreateConfig(config)}, nil
}

// recordFormat selects how JSON strings map to record bytes (API 7.2).
type recordFormat int

const (
	formatRaw recordFormat = iota
	formatBase64
)

func parseFormat(r *http.Request) (recordFormat, *apiError) {
	v, ok, err := headerValue(r, headerFormat)
	if err != nil || !ok {
		return formatRaw, err
	}
	switch strings.TrimSpace(v) {
	case "raw", "json":
		return formatRaw, nil
	case "base64", "json-binsafe":
		return formatBase64, nil
	}
	return formatRaw, badHeader("invalid `s2-format` header: expected `raw` or `base64`")
}

// maxEncryptionKeyText bounds the trimmed s2-encryption-key header: the
// base64 of a 32-byte key.
const maxEncryptionKeyText = 44

// encryptionKey parses the optional s2-encryption-key header (API 7.9):
// nil when absent. Its length is checked here for every stream (the
// reference's wording); whether it is valid base64 of a 32-byte key
// matters, and is answered, only for a stream with a cipher. The caller
// zeroes the key once the request or session has ended.
func encryptionKey(r *http.Request) (*stream.EncryptionKey, *apiError) {
	v, ok, err := headerValue(r, headerEncryptionKey)
	if err != nil || !ok {
		return nil, err
	}
	v = strings.TrimSpace(v)
	if n := len(v); n < 1 || n > maxEncryptionKeyText {
		return nil, badHeader("Invalid header `s2-encryption-key`: invalid encryption key: key material length %d is out of range", n)
	}
	return stream.ParseEncryptionKey(v), nil
}

// dataPlaneOptions are the open options of an append or read: the
// auto-create config of s2-stream-config and the encryption key. Zero the
// key (nil when none) when the request or session ends.
func dataPlaneOptions(r *http.Request) ([]stream.OpenOption, *stream.EncryptionKey, *apiError) {
	key, err := encryptionKey(r)
	if err != nil {
		return nil, nil, err
	}
	opts, err := autoCreateOptions(r)
	if err != nil {
		key.Zero()
		return nil, nil, err
	}
	if key != nil {
		opts = append(opts, stream.WithEncryptionKey(key))
	}
	return opts, key, nil
}

// mediaType is the first media type of a comma-separated header value,
// lower-cased, without parameters (API 1.5).
func mediaType(v string) string {
	first, _, _ := strings.Cut(v, ",")
	mt, _, _ := strings.Cut(first, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func isJSONMediaType(mt string) bool {
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

func isProtobufMediaType(mt string) bool {
	return mt == "application/protobuf" || mt == "application/x-protobuf"
}

func contentType(r *http.Request) string { return mediaType(r.Header.Get("Content-Type")) }

func acceptType(r *http.Request) string { return mediaType(r.Header.Get("Accept")) }

// wantsProtobuf says whether a unary response should be protobuf.
func wantsProtobuf(r *http.Request) bool { return isProtobufMediaType(acceptType(r)) }

// readBody reads a unary request body, decompressing it per
// Content-Encoding. onBad builds the error for an unreadable body (the
// code depends on what the body should have been).
func readBody(r *http.Request, onBad func(string, ...any) *apiError) ([]byte, *apiError) {
	return readBodyCounting(r, onBad, nil)
}

// readBodyCounting is readBody with the body read through wrap (nil: as it
// is), which may fail it early: an append body's records are counted as
// they arrive.
func readBodyCounting(r *http.Request, onBad func(string, ...any) *apiError, wrap func(io.Reader) io.Reader) ([]byte, *apiError) {
	enc, err := requestBodyEncoding(r)
	if err != nil {
		return nil, badHeader("%v", err)
	}
	var body io.Reader = r.Body
	size := r.ContentLength
	lease := requestLease(r)
	if enc != "" {
		size = -1
		br := bufio.NewReaderSize(r.Body, 512)
		state, err := decoderMemory(enc, br)
		if err != nil {
			return nil, onBad("failed to decompress the request body: %v", err)
		}
		if lease.Grow(state) != nil {
			return nil, outOfMemory()
		}
		dr, err := decompressReader(enc, br)
		if err != nil {
			return nil, onBad("failed to decompress the request body: %v", err)
		}
		defer dr.Close()
		body = dr
	}
	if wrap != nil {
		body = wrap(body)
	}
	data, err := readLimitedSized(body, maxUnaryBody, size, lease)
	var limit *errBatchLimit
	switch {
	case errors.As(err, &limit):
		return nil, invalid("%s", limit.msg)
	case errors.Is(err, membudget.ErrExhausted):
		return nil, outOfMemory()
	case errors.Is(err, errTooLarge):
		return nil, onBad("request body exceeds %d bytes", maxUnaryBody)
	case err != nil && r.Context().Err() != nil:
		return nil, toAPIError(r.Context().Err(), fromJSON)
	case err != nil:
		return nil, onBad("failed to read the request body: %v", err)
	}
	return data, nil
}

// readJSONBody reads a body that must be JSON. With optional set, an
// empty body is allowed (whatever the Content-Type) and returned as nil.
func readJSONBody(r *http.Request, optional bool) ([]byte, *apiError) {
	return readJSONBodyCounting(r, optional, nil)
}

// readJSONBodyCounting is readJSONBody through wrap, as in
// readBodyCounting.
func readJSONBodyCounting(r *http.Request, optional bool, wrap func(io.Reader) io.Reader) ([]byte, *apiError) {
	data, err := readBodyCounting(r, badJSON, wrap)
	if err != nil {
		return nil, err
	}
	if optional && len(data) == 0 {
		return nil, nil
	}
	if !isJSONMediaType(contentType(r)) {
		return nil, badJSON("Expected request with `Content-Type: application/json`")
	}
	if err := checkJSONText(data); err != nil {
		return nil, badJSON("Failed to parse the request body as JSON: %v", err)
	}
	return data, nil
}
