package objstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configures an S3-compatible store.
type S3Options struct {
	// Endpoint is a URL such as "http://127.0.0.1:9000" or
	// "https://s3.eu-west-1.amazonaws.com". A bare "host:port" means HTTPS.
	// Empty means AWS S3.
	Endpoint string
	// Bucket must already exist (see CreateBucket).
	Bucket string
	// Prefix is prepended to every key, followed by "/". It lets several
	// stores share a bucket. Empty means the bucket root.
	Prefix string

	AccessKeyID     string
	SecretAccessKey string
	// Region is sent in request signatures; it saves a location lookup
	// per bucket. Default "us-east-1".
	Region string
	// MaxIdleConns is the pool of kept-alive connections to the endpoint;
	// at least 64 are kept so that parallel reads reuse connections.
	MaxIdleConns int
}

// S3OptionsFromEnv fills S3Options from the usual AWS variables:
// AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_REGION (default "us-east-1").
func S3OptionsFromEnv(bucket, prefix string) S3Options {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	return S3Options{
		Endpoint:        os.Getenv("AWS_ENDPOINT_URL_S3"),
		Bucket:          bucket,
		Prefix:          prefix,
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Region:          region,
	}
}

// S3 is a Store on an S3-compatible service, through minio-go.
//
// Every call is a single HTTP request (List may page), and minio-go's own
// retries are turned off: wrap the store with NewRetrying, so that there is
// one retry policy and its caveats about conditional puts are explicit.
// Objects are uploaded with one PUT whatever their size (up to S3's 5 GiB
// single-PUT limit) so that conditional headers apply to the whole object;
// a CRC32C checksum header lets the service reject corrupted bodies.
type S3 struct {
	core      minio.Core
	transport *http.Transport
	bucket    string
	prefix    string // "" or ending in "/"
}

var _ Store = (*S3)(nil)

// newS3Client builds the minio-go client shared by NewS3 and CreateBucket.
func newS3Client(opts S3Options) (*minio.Client, *http.Transport, error) {
	host, secure, err := parseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, nil, err
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, nil, fmt.Errorf("objstore: s3 transport: %w", err)
	}
	conns := max(opts.MaxIdleConns, 64)
	tr.MaxIdleConns = max(tr.MaxIdleConns, conns)
	tr.MaxIdleConnsPerHost = conns
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	client, err := minio.New(host, &minio.Options{
		Creds:     credentials.NewStaticV4(opts.AccessKeyID, opts.SecretAccessKey, ""),
		Secure:    secure,
		Transport: tr,
		Region:    region,
		// One attempt per call: retries belong to NewRetrying. (minio-go
		// still sleeps up to 200ms after a retryable failure before giving
		// up, and net/http repeats an idempotent request once if a reused
		// connection turns out to be closed.)
		MaxRetries: 1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("objstore: s3 client for %q: %w", opts.Endpoint, err)
	}
	return client, tr, nil
}

// parseEndpoint turns an endpoint URL or host:port into minio-go's host and
// TLS flag.
func parseEndpoint(endpoint string) (host string, secure bool, err error) {
	if endpoint == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(endpoint, "://") {
		return endpoint, true, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("objstore: s3 endpoint %q: %w", endpoint, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("objstore: s3 endpoint %q: scheme must be http or https", endpoint)
	case u.Host == "":
		return "", false, fmt.Errorf("objstore: s3 endpoint %q: no host", endpoint)
	case u.Path != "" && u.Path != "/":
		return "", false, fmt.Errorf("objstore: s3 endpoint %q: a path is not supported", endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// NewS3 connects to the bucket described by opts and checks that it exists.
// Call Close when done to release idle connections.
func NewS3(ctx context.Context, opts S3Options) (*S3, error) {
	if opts.Bucket == "" {
		return nil, fmt.Errorf("objstore: s3: %w: no bucket", ErrInvalidArgument)
	}
	client, tr, err := newS3Client(opts)
	if err != nil {
		return nil, err
	}
	ok, err := client.BucketExists(ctx, opts.Bucket)
	if err != nil {
		tr.CloseIdleConnections()
		err = fmt.Errorf("objstore: s3: checking bucket %q at %s: %w", opts.Bucket, client.EndpointURL(), err)
		if ctx.Err() == nil && isTransient(err) {
			err = Transient(err)
		}
		return nil, err
	}
	if !ok {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("objstore: s3: bucket %q does not exist at %s", opts.Bucket, client.EndpointURL())
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{core: minio.Core{Client: client}, transport: tr, bucket: opts.Bucket, prefix: prefix}, nil
}

// CreateBucket creates opts.Bucket unless it already exists and is ours,
// which makes it safe to call from several processes at once.
func CreateBucket(ctx context.Context, opts S3Options) error {
	client, tr, err := newS3Client(opts)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	err = client.MakeBucket(ctx, opts.Bucket, minio.MakeBucketOptions{Region: region})
	if err == nil {
		return nil
	}
	switch minio.ToErrorResponse(err).Code {
	case minio.BucketAlreadyOwnedByYou:
		return nil
	case minio.BucketAlreadyExists:
		// Some services answer this even to the owner; check we can use it.
		if ok, berr := client.BucketExists(ctx, opts.Bucket); berr == nil && ok {
			return nil
		}
	}
	return fmt.Errorf("objstore: s3: creating bucket %q: %w", opts.Bucket, err)
}

// Close releases idle connections. The store must not be used afterwards.
func (s *S3) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

func (s *S3) object(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// mapErr turns a minio-go error into the package's vocabulary: ErrNotFound,
// ErrPreconditionFailed, context errors, or Transient for anything worth
// retrying. missing is what a 404 NoSuchKey means for this operation.
func (s *S3) mapErr(ctx context.Context, op, key string, err error, missing error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("objstore: s3 %s %q: %w: %w", op, key, ctxErr, err)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.Code == minio.NoSuchKey || (resp.StatusCode == http.StatusNotFound && resp.Code == ""):
			return fmt.Errorf("objstore: s3 %s %q: %w: %w", op, key, missing, err)
		case resp.Code == minio.PreconditionFailed || resp.StatusCode == http.StatusPreconditionFailed:
			return fmt.Errorf("objstore: s3 %s %q: %w: %w", op, key, ErrPreconditionFailed, err)
		}
	}
	err = fmt.Errorf("objstore: s3 %s %q: %w", op, key, err)
	if isTransient(err) {
		return Transient(err)
	}
	return err
}

// isTransient classifies an error from minio-go that is not a definite
// answer. Throttling and server errors are worth retrying, and so are
// transport failures: connection refused or reset, truncated bodies,
// timeouts. The request may or may not have been applied, and repeating
// it is sound. Argument validation and certificate problems are permanent.
func isTransient(err error) bool {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return isTransientS3(resp)
	}
	if isPermanentTransportError(err) {
		return false
	}
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &urlErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

func isTransientS3(resp minio.ErrorResponse) bool {
	switch resp.Code {
	case "SlowDown", "SlowDownRead", "SlowDownWrite", "RequestTimeout", "InternalError",
		"ServiceUnavailable", "Throttling", "ThrottlingException", "RequestThrottled",
		"RequestLimitExceeded", "XMinioServerNotInitialized",
		// AWS: a concurrent conditional write to the same key is in flight;
		// its documentation says to retry.
		"ConditionalRequestConflict":
		return true
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusRequestTimeout
}

// isPermanentTransportError spots transport failures that retrying cannot
// fix, such as an untrusted certificate.
func isPermanentTransportError(err error) bool {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError // plain HTTP server on an https URL
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &recordHeader)
}

// Get fetches the object and its ETag in one request.
func (s *S3) Get(ctx context.Context, key string) ([]byte, string, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, "", err
	}
	body, info, _, err := s.core.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, "", s.mapErr(ctx, "get", key, err, ErrNotFound)
	}
	defer body.Close()
	data, err := readBody(body, info.Size)
	if err != nil {
		return nil, "", s.mapErr(ctx, "get", key, err, ErrNotFound)
	}
	return data, info.ETag, nil
}

// readBody reads a response body whose length is known (size >= 0) into a
// buffer of exactly that size, failing on short bodies.
func readBody(body io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(body)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(body, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return buf, nil
}

// GetRange fetches part of an object with a Range request.
func (s *S3) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	if err := checkRange(offset, length); err != nil {
		return nil, fmt.Errorf("objstore: s3 get range %q: %w", key, err)
	}
	if length == 0 {
		// A Range header cannot ask for nothing; still report a missing key.
		if _, err := s.core.StatObject(ctx, s.bucket, obj, minio.StatObjectOptions{}); err != nil {
			return nil, s.mapErr(ctx, "get range", key, err, ErrNotFound)
		}
		return []byte{}, nil
	}
	end := offset + length - 1
	if length > math.MaxInt64-offset {
		end = math.MaxInt64 - 1
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(offset, end); err != nil {
		return nil, fmt.Errorf("objstore: s3 get range %q: %w: %w", key, ErrInvalidArgument, err)
	}
	body, info, hdr, err := s.core.GetObject(ctx, s.bucket, obj, opts)
	if err != nil {
		// A range that starts at or after the end is 416 InvalidRange; the
		// interface promises "the bytes that exist", which is none.
		if r := minio.ToErrorResponse(err); r.Code == minio.InvalidRange || r.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return []byte{}, nil
		}
		return nil, s.mapErr(ctx, "get range", key, err, ErrNotFound)
	}
	defer body.Close()
	data, err := readBody(body, info.Size)
	if err != nil {
		return nil, s.mapErr(ctx, "get range", key, err, ErrNotFound)
	}
	if hdr.Get("Content-Range") == "" {
		// The service ignored the range and sent the whole object.
		data = sliceRange(data, offset, length)
	}
	return data, nil
}

// GetRangeInto reads the range with one Range request, streaming the body
// into bufs.
func (s *S3) GetRangeInto(ctx context.Context, key string, offset int64, bufs [][]byte) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	n, err := rangeInto(offset, bufs)
	if err != nil {
		return fmt.Errorf("objstore: s3 get range %q: %w", key, err)
	}
	if n == 0 {
		_, err := s.GetRange(ctx, key, offset, 0) // still report a missing key
		return err
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(offset, offset+n-1); err != nil {
		return fmt.Errorf("objstore: s3 get range %q: %w: %w", key, ErrInvalidArgument, err)
	}
	body, info, hdr, err := s.core.GetObject(ctx, s.bucket, obj, opts)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == minio.InvalidRange || r.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return fmt.Errorf("objstore: s3 get range %q: %d bytes at %d: %w", key, n, offset, ErrShortObject)
		}
		return s.mapErr(ctx, "get range", key, err, ErrNotFound)
	}
	defer body.Close()
	size := info.Size
	if hdr.Get("Content-Range") == "" {
		// The service ignored the range and is sending the whole object.
		if _, err := io.CopyN(io.Discard, body, offset); err != nil {
			return s.mapErr(ctx, "get range", key, fmt.Errorf("skipping to the range: %w", err), ErrNotFound)
		}
		size = min(size-offset, n)
	}
	if size >= 0 && size < n {
		return fmt.Errorf("objstore: s3 get range %q: %d bytes at %d, %d sent: %w", key, n, offset, size, ErrShortObject)
	}
	for _, b := range bufs {
		if _, err := io.ReadFull(body, b); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return s.mapErr(ctx, "get range", key, fmt.Errorf("reading body: %w", err), ErrNotFound)
		}
	}
	return nil
}

// crc32cHeader carries a whole-object CRC32C (big-endian, base64) that the
// service verifies before storing the object.
const crc32cHeader = "x-amz-checksum-crc32c"

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

func crc32cBase64(data []byte) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32cTable)))
}

// put uploads data in a single PUT with the given conditions.
func (s *S3) put(ctx context.Context, op, key string, data []byte, opts minio.PutObjectOptions, missing error) (string, error) {
	obj, err := s.object(key)
	if err != nil {
		return "", err
	}
	// The payload is not signed (no SHA-256 pass over it) and carries no
	// Content-MD5, which cost over a quarter of the client's CPU at high
	// ingest; a CRC32C checksum header (hardware-accelerated) gives the
	// service a digest to verify instead.
	opts.DisableContentSha256 = true
	if opts.UserMetadata == nil {
		opts.UserMetadata = map[string]string{}
	}
	opts.UserMetadata[crc32cHeader] = crc32cBase64(data)
	info, err := s.core.PutObject(ctx, s.bucket, obj, bytes.NewReader(data), int64(len(data)), "", "", opts)
	if err != nil {
		return "", s.mapErr(ctx, op, key, err, missing)
	}
	return info.ETag, nil
}

// Put uploads the object unconditionally.
func (s *S3) Put(ctx context.Context, key string, data []byte) (string, error) {
	return s.put(ctx, "put", key, data, minio.PutObjectOptions{}, ErrNotFound)
}

// PutIfAbsent uploads with If-None-Match: *.
func (s *S3) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	return s.put(ctx, "put if absent", key, data, opts, ErrNotFound)
}

// PutIfMatch uploads with If-Match: etag. MinIO answers a missing key with
// 404 NoSuchKey rather than 412; both are ErrPreconditionFailed here.
func (s *S3) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if etag == "" {
		// An empty If-Match would be ignored or rejected; it can never match.
		return "", fmt.Errorf("objstore: s3 put if match %q: empty etag: %w", key, ErrPreconditionFailed)
	}
	var opts minio.PutObjectOptions
	opts.SetMatchETag(etag)
	return s.put(ctx, "put if match", key, data, opts, ErrPreconditionFailed)
}

// Delete removes the object; S3 deletes of missing keys succeed.
func (s *S3) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if err := s.core.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{}); err != nil {
		return s.mapErr(ctx, "delete", key, err, nil)
	}
	return nil
}

// List pages through ListObjectsV2 until limit objects are collected.
func (s *S3) List(ctx context.Context, prefix, startAfter string, limit int) ([]ObjectInfo, error) {
	// minio-go lists from a goroutine; cancelling and draining on return
	// stops it even when we leave early at limit.
	listCtx, cancel := context.WithCancel(ctx)
	opts := minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}
	if startAfter != "" {
		opts.StartAfter = s.prefix + startAfter
	}
	if limit > 0 {
		opts.MaxKeys = min(limit, 1000)
	}
	ch := s.core.Client.ListObjects(listCtx, s.bucket, opts)
	defer func() {
		cancel()
		for range ch {
		}
	}()

	var out []ObjectInfo
	for obj := range ch {
		if obj.Err != nil {
			return nil, s.mapErr(ctx, "list", prefix, obj.Err, ErrNotFound)
		}
		key, ok := strings.CutPrefix(obj.Key, s.prefix)
		if !ok {
			continue // cannot happen: the listing is under our prefix
		}
		out = append(out, ObjectInfo{Key: key, Size: obj.Size, ETag: obj.ETag, LastModified: obj.LastModified})
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}
