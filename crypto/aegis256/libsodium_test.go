package aegis256

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The libsodium-wrappers release the cross-check runs against, and the
// libsodium package it depends on, both pinned exactly (with their integrity
// hashes) by testdata/npm/package-lock.json.
const (
	libsodiumWrappersVersion = "0.8.4"
	libsodiumJSVersion       = "0.8.4"
)

// skipOrFail skips the test, or fails it when S2LITE_REQUIRE_NODE=1 (as CI
// sets) demands that the cross-check run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("S2LITE_REQUIRE_NODE") == "1" {
		t.Fatalf(format+" (S2LITE_REQUIRE_NODE=1)", args...)
	}
	t.Skipf(format, args...)
}

// packageVersion returns the version in dir/node_modules/name/package.json,
// or "" if there is none.
func packageVersion(dir, name string) string {
	data, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
	if err != nil {
		return ""
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &pkg) != nil {
		return ""
	}
	return pkg.Version
}

func pinnedInstall(dir string) bool {
	return packageVersion(dir, "libsodium-wrappers") == libsodiumWrappersVersion &&
		packageVersion(dir, "libsodium") == libsodiumJSVersion
}

// installLibsodium returns a directory whose node_modules holds the pinned
// libsodium-wrappers. It installs testdata/npm's lockfile (exact versions and
// integrity hashes) with npm ci into the user cache directory, or a temporary
// one, unless an install of that same lockfile is already there.
func installLibsodium(t *testing.T, npm string) string {
	var files [2][]byte
	for i, name := range []string{"package.json", "package-lock.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "npm", name))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = data
	}
	sum := sha256.Sum256(files[1])
	root, err := os.UserCacheDir()
	if err != nil {
		root = t.TempDir()
	}
	root = filepath.Join(root, "s2lite", "aegis256-libsodium")
	dir := filepath.Join(root, libsodiumWrappersVersion+"-"+hex.EncodeToString(sum[:6]))
	if pinnedInstall(dir) {
		return dir
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// Install into a fresh directory, then move it into place, so that
	// concurrent test runs never see a partial install.
	tmp, err := os.MkdirTemp(root, "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for i, name := range []string{"package.json", "package-lock.json"} {
		if err := os.WriteFile(filepath.Join(tmp, name), files[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		skipOrFail(t, "npm ci (libsodium-wrappers %s): %v\n%s", libsodiumWrappersVersion, err, out)
	}
	if !pinnedInstall(tmp) {
		t.Fatalf("npm installed libsodium-wrappers %q, libsodium %q; want %s and %s",
			packageVersion(tmp, "libsodium-wrappers"), packageVersion(tmp, "libsodium"),
			libsodiumWrappersVersion, libsodiumJSVersion)
	}
	if err := os.Rename(tmp, dir); err != nil && !pinnedInstall(dir) {
		// Something else is in the way: replace it.
		os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type xcheckCase struct {
	Key    []byte `json:"key"`
	Nonce  []byte `json:"nonce"`
	AD     []byte `json:"ad"`
	Msg    []byte `json:"msg"`
	Sealed []byte `json:"sealed"`
	Flip   int    `json:"flip"`
}

type xcheckResult struct {
	Opened           []byte `json:"opened"` // nil when libsodium rejected Sealed
	Sealed           []byte `json:"sealed"`
	TamperedRejected bool   `json:"tamperedRejected"`
}

// TestLibsodium checks byte-for-byte agreement with libsodium's
// crypto_aead_aegis256 (through the libsodium-wrappers npm package) in both
// directions: libsodium opens what this package seals, and this package
// opens, and reproduces exactly, what libsodium seals. libsodium uses the
// 32-byte tag; the 16-byte tag is checked as the XOR of its two halves.
func TestLibsodium(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		skipOrFail(t, "node and npm are needed for the libsodium cross-check: %v, %v", errNode, errNpm)
	}
	dir := installLibsodium(t, npm)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	count := 200
	if testing.Short() {
		count = 50
	}
	lengths := []int{0, 1, 15, 16, 17, 31, 32, 33, 70000}
	cases := make([]xcheckCase, count)
	for i := range cases {
		n := rng.IntN(70001)
		if i < len(lengths) {
			n = lengths[i]
		}
		adLen := rng.IntN(300)
		if rng.IntN(8) == 0 {
			adLen = rng.IntN(5000)
		}
		c := xcheckCase{
			Key:   randBytes(rng, KeySize),
			Nonce: randBytes(rng, NonceSize),
			AD:    randBytes(rng, adLen),
			Msg:   randBytes(rng, n),
		}
		a, err := NewWithTagSize(c.Key, LongTagSize)
		if err != nil {
			t.Fatal(err)
		}
		c.Sealed = a.Seal(nil, c.Nonce, c.Msg, c.AD)
		c.Flip = rng.IntN(len(c.Sealed))
		cases[i] = c
	}
	input, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "libsodium_xcheck.js"),
		filepath.Join(dir, "node_modules", "libsodium-wrappers"))
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	var output struct {
		Version string         `json:"version"`
		ABytes  int            `json:"abytes"`
		Results []xcheckResult `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &output); err != nil {
		t.Fatalf("decoding node's output: %v", err)
	}
	if output.ABytes != LongTagSize || len(output.Results) != len(cases) {
		t.Fatalf("libsodium: tag size %d, %d results for %d cases", output.ABytes, len(output.Results), len(cases))
	}
	t.Logf("libsodium %s (libsodium-wrappers %s): %d cases", output.Version, libsodiumWrappersVersion, len(cases))

	for i, c := range cases {
		r := output.Results[i]
		n := len(c.Msg)
		if r.Opened == nil || !bytes.Equal(r.Opened, c.Msg) {
			t.Fatalf("case %d (msg %d, ad %d): libsodium did not open this package's ciphertext to the message", i, n, len(c.AD))
		}
		if !r.TamperedRejected {
			t.Fatalf("case %d: libsodium accepted a tampered ciphertext", i)
		}
		if !bytes.Equal(r.Sealed, c.Sealed) {
			t.Fatalf("case %d (msg %d, ad %d): libsodium's ciphertext differs from this package's", i, n, len(c.AD))
		}
		// The 16-byte tag is the XOR of the 32-byte tag's halves.
		short := append([]byte{}, r.Sealed[:n+16]...)
		for j := range 16 {
			short[n+j] ^= r.Sealed[n+16+j]
		}
		for _, im := range impls(t) {
			long := mustAEAD(t, c.Key, LongTagSize, im.asm)
			if got, err := long.Open(nil, c.Nonce, r.Sealed, c.AD); err != nil || !bytes.Equal(got, c.Msg) {
				t.Fatalf("case %d, %s: opening libsodium's ciphertext: %v", i, im.name, err)
			}
			a := mustAEAD(t, c.Key, TagSize, im.asm)
			if got := a.Seal(nil, c.Nonce, c.Msg, c.AD); !bytes.Equal(got, short) {
				t.Fatalf("case %d, %s: 16-byte-tag output is not libsodium's with its tag halves XORed", i, im.name)
			}
			if got, err := a.Open(nil, c.Nonce, short, c.AD); err != nil || !bytes.Equal(got, c.Msg) {
				t.Fatalf("case %d, %s: opening the 16-byte-tag form of libsodium's ciphertext: %v", i, im.name, err)
			}
		}
	}
}
