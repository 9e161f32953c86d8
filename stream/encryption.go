package stream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/s2lite/s2lite/crypto/aegis256"
)

// Encryption at rest with client-held keys (API 7.9).
//
// A basin's stream_cipher is copied into each stream created afterwards
// and never changes for that stream. Appends and reads of a stream with a
// cipher carry the key (s2-encryption-key); the sequencer seals every
// envelope record with it as the batch is built, where the sequence number
// is known, and a reader opens each record with its own key. Command
// records (fence, trim) stay in clear. The key is never stored: the
// server holds it for the request or session that carried it.
//
// Stored form of an encrypted record (the value under r/<id><seq>):
//
//	timestamp u64 | 0x80 0x00 | suite u8 | nonce | ciphertext | tag (16 bytes)
//
// The ciphertext is the plaintext form of the record after its timestamp
// (header count, headers, body: see appendRecordValue), so an opened record
// decodes like a plain one. 0x80 0x00 is an overlong varint that the plain
// encoding (a canonical varint header count) never writes, so the two
// forms cannot be confused. Suite 1 is AEGIS-256 (32-byte nonce), suite 2
// AES-256-GCM (12-byte nonce); nonces are random per record. The
// associated data binds the record to where it lies (recordAD): suite,
// stream id, sequence number and timestamp, so a record copied to another
// stream or position, or given another timestamp, does not open.

// Stream ciphers (BasinConfig.StreamCipher, StreamInfo.Cipher).
const (
	CipherAegis256  = "aegis-256"
	CipherAES256GCM = "aes-256-gcm"
)

// CodeDecryptionFailed is the code of a read whose key does not open the
// stream's records.
const CodeDecryptionFailed = "decryption_failed"

const (
	suiteAegis256  = 1
	suiteAES256GCM = 2

	// sealedMarker follows the timestamp of an encrypted record.
	sealedMarker0, sealedMarker1 = 0x80, 0x00
	// sealedPrefixLen is timestamp, marker and suite.
	sealedPrefixLen = 8 + 2 + 1
	sealTagLen      = 16
	// encryptionKeyLen is the only key size of both ciphers.
	encryptionKeyLen = 32
	// aesGCMMaxSeqNum is the last sequence number an AES-256-GCM stream
	// may give an envelope record: random 96-bit nonces stay far from a
	// collision for 2^32 messages under one key.
	aesGCMMaxSeqNum = 1<<32 - 1
	// recordADLen is the length of recordAD's associated data.
	recordADLen = 1 + 8 + 8 + 8
)

// EncryptionKeyError is a missing or unusable encryption key for a stream
// with a cipher: the transport answers it as a header problem (400
// bad_header). Message never contains key material.
type EncryptionKeyError struct {
	Message string
}

func (e *EncryptionKeyError) Error() string { return e.Message }

func decryptionFailed() *Error {
	return &Error{Code: CodeDecryptionFailed, Status: http.StatusBadRequest, Message: "record decryption failed"}
}

// EncryptionKey is the key material a request carries, decoded from its
// base64 text. Whether it is usable is decided only for a stream with a
// cipher, which names the cipher in its answer (a stream without one
// ignores the key). Zero it once the request or session that carried it
// has ended.
type EncryptionKey struct {
	key           []byte
	invalidBase64 bool
}

// ParseEncryptionKey decodes the (trimmed) text of an s2-encryption-key
// header: standard base64 with padding.
func ParseEncryptionKey(text string) *EncryptionKey {
	enc := base64.StdEncoding.Strict()
	buf := make([]byte, enc.DecodedLen(len(text)))
	n, err := enc.Decode(buf, []byte(text))
	if err != nil {
		clear(buf)
		return &EncryptionKey{invalidBase64: true}
	}
	return &EncryptionKey{key: buf[:n]}
}

// Zero overwrites the decoded key. The ciphers built from it keep their own
// copies (expanded, inside crypto/aes and aegis256), which become garbage
// with the sessions that hold them.
func (k *EncryptionKey) Zero() {
	if k != nil {
		clear(k.key[:cap(k.key)])
	}
}

// WithEncryptionKey gives an append or read its key. It is required for a
// stream with a cipher and ignored for one without.
func WithEncryptionKey(k *EncryptionKey) OpenOption {
	return func(o *openOptions) { o.key = k }
}

// recordCipher seals and opens the records of one stream with one key.
// It is safe for concurrent use (cipher.AEAD is).
type recordCipher struct {
	suite byte
	name  string
	aead  cipher.AEAD
}

func validCipher(name string) bool { return name == CipherAegis256 || name == CipherAES256GCM }

// resolveCipher builds the cipher of a stream with cipher name (""
// without one) from the request's key, or says why it cannot (API 7.9;
// the messages are the reference's).
func resolveCipher(name string, k *EncryptionKey) (*recordCipher, error) {
	switch {
	case name == "":
		return nil, nil
	case !validCipher(name):
		return nil, storageError("stream cipher", fmt.Errorf("%w: unknown stream cipher %q", errCorrupt, name))
	case k == nil:
		return nil, &EncryptionKeyError{Message: fmt.Sprintf("missing encryption key for stream cipher '%s'", name)}
	case k.invalidBase64:
		return nil, &EncryptionKeyError{Message: fmt.Sprintf("invalid encryption key for stream cipher '%s': invalid base64", name)}
	case len(k.key) != encryptionKeyLen:
		return nil, &EncryptionKeyError{Message: fmt.Sprintf("invalid encryption key length for stream cipher '%s': %d", name, len(k.key))}
	}
	c := &recordCipher{name: name}
	var err error
	if name == CipherAegis256 {
		c.suite = suiteAegis256
		c.aead, err = aegis256.New(k.key)
	} else {
		c.suite = suiteAES256GCM
		var block cipher.Block
		if block, err = aes.NewCipher(k.key); err == nil {
			c.aead, err = cipher.NewGCM(block)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream: building the %s cipher: %w", name, err)
	}
	return c, nil
}

func suiteNonceLen(suite byte) int {
	switch suite {
	case suiteAegis256:
		return aegis256.NonceSize
	case suiteAES256GCM:
		return 12
	}
	return -1
}

func (c *recordCipher) nonceLen() int { return suiteNonceLen(c.suite) }

// maxSeqNum is the last sequence number the cipher may seal.
func (c *recordCipher) maxSeqNum() uint64 {
	if c.suite == suiteAES256GCM {
		return aesGCMMaxSeqNum
	}
	return math.MaxUint64
}

// recordAD is the associated data of a record: suite, stream id, sequence
// number and timestamp.
func recordAD(suite byte, id, seq, ts uint64) [recordADLen]byte {
	var ad [recordADLen]byte
	ad[0] = suite
	binary.BigEndian.PutUint64(ad[1:], id)
	binary.BigEndian.PutUint64(ad[9:], seq)
	binary.BigEndian.PutUint64(ad[17:], ts)
	return ad
}

// sealedRecordLen is the length of sealRecord's output.
func (c *recordCipher) sealedRecordLen(headers []Header, body []byte) int {
	return sealedPrefixLen + c.nonceLen() + recordValueLen(headers, body) - 8 + sealTagLen
}

// newNonces returns n random nonces for c, read at once.
func (c *recordCipher) newNonces(n int) ([]byte, error) {
	buf := make([]byte, n*c.nonceLen())
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("stream: random nonces: %w", err)
	}
	return buf, nil
}

// sealRecord writes the encrypted form of a record into dst, which is
// exactly sealedRecordLen long: the plaintext is encoded in place and
// encrypted there, so it is never anywhere else in dst's memory once this
// returns.
func (c *recordCipher) sealRecord(dst, nonce []byte, id, seq, ts uint64, headers []Header, body []byte) {
	nl := c.nonceLen()
	binary.BigEndian.PutUint64(dst, ts)
	dst[8], dst[9], dst[10] = sealedMarker0, sealedMarker1, c.suite
	copy(dst[sealedPrefixLen:], nonce[:nl])
	start := sealedPrefixLen + nl
	// appendRecordValue's encoding minus the timestamp, written where the
	// ciphertext goes.
	pt := binary.AppendUvarint(dst[start:start], uint64(len(headers)))
	for _, h := range headers {
		pt = binary.AppendUvarint(pt, uint64(len(h.Name)))
		pt = append(pt, h.Name...)
		pt = binary.AppendUvarint(pt, uint64(len(h.Value)))
		pt = append(pt, h.Value...)
	}
	pt = append(pt, body...)
	ad := recordAD(c.suite, id, seq, ts)
	out := c.aead.Seal(pt[:0], dst[sealedPrefixLen:start], pt, ad[:])
	if len(out) != len(dst)-start || &out[0] != &dst[start] {
		panic(fmt.Sprintf("stream: sealed record of %d bytes, want %d in place", len(out), len(dst)-start))
	}
}

// isSealed reports whether a stored record value is in encrypted form.
func isSealed(b []byte) bool {
	return len(b) >= 10 && b[8] == sealedMarker0 && b[9] == sealedMarker1
}

// openRecord decrypts and decodes the encrypted record b of stream id at
// seq. The plaintext is appended to arena, which must not overlap b; the
// record aliases it. A key that does not open the record is
// decryption_failed; anything else amiss is a corrupt value.
func (c *recordCipher) openRecord(arena []byte, id, seq uint64, b []byte) (SequencedRecord, []byte, error) {
	if len(b) < sealedPrefixLen {
		return SequencedRecord{}, arena, fmt.Errorf("%w: encrypted record %d of %d bytes", errCorrupt, seq, len(b))
	}
	suite := b[10]
	nl := suiteNonceLen(suite)
	switch {
	case nl < 0:
		return SequencedRecord{}, arena, fmt.Errorf("%w: encrypted record %d has unknown cipher suite %d", errCorrupt, seq, suite)
	case suite != c.suite:
		return SequencedRecord{}, arena, fmt.Errorf("%w: encrypted record %d has cipher suite %d on a %s stream", errCorrupt, seq, suite, c.name)
	case len(b) < sealedPrefixLen+nl+sealTagLen:
		return SequencedRecord{}, arena, fmt.Errorf("%w: encrypted record %d of %d bytes is truncated", errCorrupt, seq, len(b))
	}
	ts := binary.BigEndian.Uint64(b)
	ad := recordAD(suite, id, seq, ts)
	start := len(arena)
	out, err := c.aead.Open(arena, b[sealedPrefixLen:sealedPrefixLen+nl], b[sealedPrefixLen+nl:], ad[:])
	if err != nil {
		return SequencedRecord{}, arena, errDecryption
	}
	pt := out[start:len(out):len(out)]
	rec, err := decodeRecordPayload(seq, ts, pt)
	if err != nil {
		return SequencedRecord{}, out, err
	}
	return rec, out, nil
}

// errDecryption is a record that the key given does not open.
var errDecryption = errors.New("stream: record decryption failed")

// decodeStored decodes the stored value b of the record of stream id at
// seq: a plain one as it is (aliasing b), an encrypted one with c (its
// plaintext appended to arena, which grows as needed). On a stream with a
// cipher only command records are stored in clear.
func decodeStored(c *recordCipher, arena *recordArena, id, seq uint64, b []byte) (SequencedRecord, error) {
	if !isSealed(b) {
		rec, err := decodeRecord(seq, b)
		if err == nil && c != nil && !isCommandRecord(rec.Headers) {
			err = fmt.Errorf("%w: record %d of an encrypted stream is stored in clear", errCorrupt, seq)
		}
		return rec, err
	}
	if c == nil {
		return SequencedRecord{}, fmt.Errorf("%w: record %d is encrypted but the stream has no cipher", errCorrupt, seq)
	}
	buf := arena.room(len(b))
	rec, buf, err := c.openRecord(buf, id, seq, b)
	arena.used(buf)
	return rec, err
}

// isCommandRecord reports the header shape of a command record: one header
// with an empty name.
func isCommandRecord(headers []Header) bool { return len(headers) == 1 && len(headers[0].Name) == 0 }

// recordArena holds the plaintext of opened records. Bytes handed out are
// never written again: a full chunk is replaced, not reused, so records
// stay valid for as long as their holders keep them. Chunks grow from 4 to
// 64 KiB (a larger record gets one of its own size), so a short read
// allocates little and a full batch wastes at most one chunk's tail.
type recordArena struct {
	buf  []byte
	next int // size of the next chunk
}

const (
	minArenaChunk = 4 << 10
	maxArenaChunk = 64 << 10
)

// room returns the arena's free space, at least n bytes, as an empty slice.
func (a *recordArena) room(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		size := max(a.next, minArenaChunk)
		a.next = min(2*size, maxArenaChunk)
		a.buf = make([]byte, 0, max(size, n))
	}
	return a.buf[len(a.buf):len(a.buf):cap(a.buf)]
}

// used records that b, returned by room and appended to, is taken.
func (a *recordArena) used(b []byte) {
	if len(b) > 0 {
		a.buf = a.buf[:len(a.buf)+len(b)]
	}
}

// reset drops the current chunk (its bytes stay with the records that hold
// them) and starts small again.
func (a *recordArena) reset() { *a = recordArena{} }

// decryptError maps a failure to open a stored record onto the API error.
func decryptError(op string, err error) error {
	if errors.Is(err, errDecryption) {
		return decryptionFailed()
	}
	return storageError(op, err)
}
