package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s2lite/s2lite/internal/s3test"
	"github.com/s2lite/s2lite/objstore"
)

func TestS3OptionsFromEnv(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
	t.Setenv("AWS_ACCESS_KEY_ID", "id")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "")
	got := objstore.S3OptionsFromEnv("bucket", "pre")
	want := objstore.S3Options{
		Endpoint: "http://127.0.0.1:9000", Bucket: "bucket", Prefix: "pre",
		AccessKeyID: "id", SecretAccessKey: "secret", Region: "us-east-1",
	}
	if got != want {
		t.Fatalf("S3OptionsFromEnv = %+v, want %+v", got, want)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	if got := objstore.S3OptionsFromEnv("b", ""); got.Region != "eu-west-1" {
		t.Fatalf("Region = %q", got.Region)
	}
}

func TestNewS3BadEndpoint(t *testing.T) {
	ctx := context.Background()
	for _, ep := range []string{"ftp://host:21", "http://", "http://host:9000/path"} {
		if _, err := objstore.NewS3(ctx, objstore.S3Options{Endpoint: ep, Bucket: "bucket"}); err == nil {
			t.Errorf("NewS3(%q) succeeded", ep)
		}
	}
	// Client-side validation is not worth retrying.
	_, err := objstore.NewS3(ctx, objstore.S3Options{Endpoint: "http://127.0.0.1:1", Bucket: "b"})
	if err == nil || objstore.IsTransient(err) {
		t.Errorf("NewS3 with an invalid bucket name: %v", err)
	}
	if _, err := objstore.NewS3(ctx, objstore.S3Options{Endpoint: "http://127.0.0.1:1"}); !errors.Is(err, objstore.ErrInvalidArgument) {
		t.Errorf("NewS3 without bucket: %v", err)
	}
}

// Nothing listens on a just-closed port: the failure must come quickly and
// name the problem rather than hang in retries.
func TestNewS3Unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = objstore.NewS3(ctx, objstore.S3Options{Endpoint: "http://" + addr, Bucket: "bucket", AccessKeyID: "x", SecretAccessKey: "y"})
	if err == nil {
		t.Fatal("NewS3 on a closed port succeeded")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %v to fail", elapsed)
	}
	if !objstore.IsTransient(err) {
		t.Errorf("unreachable endpoint is not transient: %v", err)
	}
	t.Log(err)
}

func TestS3MissingBucket(t *testing.T) {
	if !s3test.Enabled() {
		t.Skip("S2LITE_TEST_S3 not set: run under `make test` to use MinIO")
	}
	ctx := context.Background()
	_, err := objstore.NewS3(ctx, objstore.S3OptionsFromEnv("s2lite-no-such-bucket", ""))
	if err == nil {
		t.Fatal("NewS3 on a missing bucket succeeded")
	}
	t.Log(err)
}

// Stores on different prefixes of one bucket do not see each other.
func TestS3PrefixIsolation(t *testing.T) {
	ctx := context.Background()
	a, b := s3test.Store(t), s3test.Store(t)
	mustPut(t, ctx, a, "k", []byte("a"))
	if _, _, err := b.Get(ctx, "k"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("b sees a's key: %v", err)
	}
	objs, err := b.List(ctx, "", "", 0)
	if err != nil || len(objs) != 0 {
		t.Fatalf("b lists %v, %v", objs, err)
	}
	objs, err = a.List(ctx, "", "", 0)
	if err != nil || len(objs) != 1 || objs[0].Key != "k" {
		t.Fatalf("a lists %v, %v", objs, err)
	}
}

// fakeS3 answers every object request with whatever respond says, so the
// error mapping can be checked without a server that misbehaves on demand.
type fakeS3 struct {
	mu       sync.Mutex
	respond  http.HandlerFunc
	requests int
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead && strings.Trim(r.URL.Path, "/") == "bucket" {
		return // BucketExists
	}
	f.mu.Lock()
	respond := f.respond
	f.requests++
	f.mu.Unlock()
	respond(w, r)
}

func s3Error(status int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, "<Error><Code>%s</Code><Message>test</Message></Error>", code)
		}
	}
}

func TestS3ErrorMapping(t *testing.T) {
	fake := &fakeS3{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := context.Background()
	s, err := objstore.NewS3(ctx, objstore.S3Options{Endpoint: srv.URL, Bucket: "bucket", Prefix: "/p/", AccessKeyID: "x", SecretAccessKey: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	set := func(h http.HandlerFunc) {
		fake.mu.Lock()
		fake.respond = h
		fake.requests = 0
		fake.mu.Unlock()
	}

	get := func() error { _, _, err := s.Get(ctx, "k"); return err }
	putIfAbsent := func() error { _, err := s.PutIfAbsent(ctx, "k", []byte("v")); return err }
	putIfMatch := func() error { _, err := s.PutIfMatch(ctx, "k", []byte("v"), "etag"); return err }
	for _, tc := range []struct {
		name      string
		respond   http.HandlerFunc
		call      func() error
		is        error
		transient bool
	}{
		{"NoSuchKey", s3Error(404, "NoSuchKey"), get, objstore.ErrNotFound, false},
		{"SlowDown", s3Error(503, "SlowDown"), get, nil, true},
		{"InternalError", s3Error(500, "InternalError"), get, nil, true},
		{"TooManyRequests", s3Error(429, "TooManyRequests"), get, nil, true},
		{"RequestTimeout", s3Error(400, "RequestTimeout"), get, nil, true},
		{"AccessDenied", s3Error(403, "AccessDenied"), get, nil, false},
		{"PutIfAbsentLoses", s3Error(412, "PreconditionFailed"), putIfAbsent, objstore.ErrPreconditionFailed, false},
		{"PutIfMatchMissing", s3Error(404, "NoSuchKey"), putIfMatch, objstore.ErrPreconditionFailed, false},
		{"PutIfMatchStale", s3Error(412, "PreconditionFailed"), putIfMatch, objstore.ErrPreconditionFailed, false},
		{"ConditionalConflict", s3Error(409, "ConditionalRequestConflict"), putIfAbsent, nil, true},
		{"ConnectionDropped", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, get, nil, true},
		{"TruncatedBody", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.Header().Set("ETag", `"abc"`)
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			w.WriteHeader(200)
			w.Write([]byte("short"))
		}, get, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set(tc.respond)
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want %v", err, tc.is)
			}
			if objstore.IsTransient(err) != tc.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, !tc.transient, tc.transient)
			}
			// Retries belong to NewRetrying, not to minio-go. net/http
			// itself repeats an idempotent request once when a reused
			// connection turns out to be closed.
			want := 1
			if tc.name == "ConnectionDropped" {
				want = 2
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fake.requests > want {
				t.Errorf("%d requests, want at most %d", fake.requests, want)
			}
		})
	}

	t.Run("RangeNotSatisfiable", func(t *testing.T) {
		set(s3Error(416, "InvalidRange"))
		data, err := s.GetRange(ctx, "k", 100, 10)
		if err != nil || data == nil || len(data) != 0 {
			t.Fatalf("GetRange = %q, %v; want empty", data, err)
		}
	})
	t.Run("RangeIgnored", func(t *testing.T) {
		set(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/bucket/p/k" {
				t.Errorf("path %q, want /bucket/p/k", r.URL.Path)
			}
			w.Header().Set("ETag", `"abc"`)
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			w.Write([]byte("0123456789"))
		})
		data, err := s.GetRange(ctx, "k", 3, 4)
		if err != nil || string(data) != "3456" {
			t.Fatalf("GetRange = %q, %v; want 3456", data, err)
		}
	})
}
