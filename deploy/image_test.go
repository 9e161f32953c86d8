package deploy

// The container image, checked without a Docker daemon: the static binary
// is built as the Dockerfile builds it, packed into a one-layer OCI image
// with go-containerregistry (the same contents and config as the
// Dockerfile's final stage: /s2lite, uid 65532, entrypoint, command, port),
// written as an OCI layout, read back and validated; then the image's
// filesystem is unpacked and its entrypoint and command run, as root is
// able to, in a chroot of that filesystem as uid 65532 with nothing
// writable, and /health and /metrics are asked.

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const (
	imageUser = "65532:65532"
	imageRef  = "s2lite:test"
)

var (
	imageEntrypoint = []string{"/s2lite"}
	imageCmd        = []string{"serve", "--port", "8080"}
)

// buildStatic builds ../cmd/s2lite as the Dockerfile does and returns the
// binary's path.
func buildStatic(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the server binary")
	}
	out := filepath.Join(t.TempDir(), "s2lite")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/s2lite")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// checkStatic asserts that the binary needs no dynamic loader or shared
// library (it runs on distroless/static or scratch) and is stripped.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader (PT_INTERP): CGO_ENABLED=0 missing?", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s links shared libraries %v", path, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: -ldflags \"-s -w\" missing?", path)
	}
}

type layerFile struct {
	name string
	mode int64
	data []byte
}

// imageLayer is the image's only layer: the binary at /s2lite, the nonroot
// user in /etc/passwd and /etc/group, and the CA certificates (needed to
// reach S3 over HTTPS) when this machine has them.
func imageLayer(t *testing.T, binary string) (v1.Layer, []layerFile) {
	t.Helper()
	bin, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	files := []layerFile{
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "s2lite", mode: 0o755, data: bin},
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		files = append(files, layerFile{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{}
	for _, f := range files {
		// Parent directories first, owned by root.
		parts := strings.Split(f.name, "/")
		for i := 1; i < len(parts); i++ {
			dir := strings.Join(parts[:i], "/") + "/"
			if dirs[dir] {
				continue
			}
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return layer, files
}

// buildImage makes the image and writes it as an OCI layout in dir.
func buildImage(t *testing.T, dir string, layer v1.Layer) {
	t.Helper()
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		User:         imageUser,
		Entrypoint:   imageEntrypoint,
		Cmd:          imageCmd,
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		WorkingDir:   "/",
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": imageRef})); err != nil {
		t.Fatal(err)
	}
}

// readImage reads the only image back from the OCI layout in dir.
func readImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(im.Manifests))
	}
	d := im.Manifests[0]
	if d.MediaType != types.OCIManifestSchema1 || d.Annotations["org.opencontainers.image.ref.name"] != imageRef {
		t.Errorf("index entry %+v", d)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestImage(t *testing.T) {
	binary := buildStatic(t)
	checkStatic(t, binary)
	layer, files := imageLayer(t, binary)

	dir := filepath.Join(t.TempDir(), "oci")
	buildImage(t, dir, layer)
	if b, err := os.ReadFile(filepath.Join(dir, "oci-layout")); err != nil || !strings.Contains(string(b), `"imageLayoutVersion"`) {
		t.Fatalf("oci-layout: %v %s", err, b)
	}

	img := readImage(t, dir)
	// Digests, sizes and diff IDs agree with the blobs on disk.
	if err := validate.Image(img); err != nil {
		t.Fatalf("the image read back does not validate: %v", err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != imageUser {
		t.Errorf("User %q, want %q", c.User, imageUser)
	}
	if !slices.Equal(c.Entrypoint, imageEntrypoint) {
		t.Errorf("Entrypoint %v, want %v", c.Entrypoint, imageEntrypoint)
	}
	if !slices.Equal(c.Cmd, imageCmd) {
		t.Errorf("Cmd %v, want %v", c.Cmd, imageCmd)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v, want 8080/tcp", c.ExposedPorts)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("platform %s/%s, %d diff IDs", cf.OS, cf.Architecture, len(cf.RootFS.DiffIDs))
	}

	// The layer's files as written, the binary executable at /s2lite.
	root := filepath.Join(t.TempDir(), "rootfs")
	got := unpack(t, img, root)
	for _, f := range files {
		h, ok := got[f.name]
		if !ok {
			t.Errorf("%s missing from the image", f.name)
			continue
		}
		if h.Mode&0o7777 != f.mode || h.Size != int64(len(f.data)) || h.Uid != 0 {
			t.Errorf("%s: mode %o size %d uid %d, want %o %d 0", f.name, h.Mode, h.Size, h.Uid, f.mode, len(f.data))
		}
	}
	if want := len(files); len(got) < want {
		t.Errorf("%d files in the image, want at least %d", len(got), want)
	}

	runImage(t, root, c)
}

// unpack extracts img's filesystem into root and returns its files' headers.
func unpack(t *testing.T, img v1.Image, root string) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(filepath.Clean("/"+h.Name), "/")
		dst := filepath.Join(root, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			files[name] = h
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode&0o777))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %s of type %c", h.Name, h.Typeflag)
		}
	}
	return files
}

// runImage runs the unpacked image's entrypoint and command (on a free
// loopback port instead of 8080). As root it runs the way a container
// runtime would: chrooted into the image's filesystem, so only the image's
// files exist, as the image's user, with the filesystem owned by root and
// read-only to that user (the chart's readOnlyRootFilesystem). Otherwise it
// runs the binary directly as the current user.
func runImage(t *testing.T, root string, c v1.Config) {
	t.Helper()
	port := freePort(t)
	args := append(slices.Clone(c.Entrypoint[1:]), c.Cmd...)
	i := slices.Index(args, "--port")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("command %v has no --port", args)
	}
	args[i+1] = port
	args = append(args, "--host", "127.0.0.1")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if os.Geteuid() == 0 && runtime.GOOS == "linux" {
		// Everything root-owned and not writable by the image's user.
		if err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			mode := info.Mode().Perm() &^ 0o022
			if info.IsDir() {
				mode |= 0o555
			}
			return os.Chmod(p, mode)
		}); err != nil {
			t.Fatal(err)
		}
		cmd = exec.CommandContext(ctx, c.Entrypoint[0], args...)
		cmd.Path = c.Entrypoint[0] // resolved inside the chroot
		cmd.Dir = c.WorkingDir
		var uid, gid uint32
		if _, err := fmt.Sscanf(c.User, "%d:%d", &uid, &gid); err != nil {
			t.Fatalf("user %q: %v", c.User, err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     root,
			Credential: &syscall.Credential{Uid: uid, Gid: gid},
		}
		t.Logf("running %v in a chroot of the image as %s", append(slices.Clone(c.Entrypoint), args...), c.User)
	} else {
		cmd = exec.CommandContext(ctx, filepath.Join(root, c.Entrypoint[0]), args...)
		t.Logf("not root: running %v directly, without a chroot", args)
	}
	cmd.Env = c.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(base + "/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "OK" {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the server exited before it was healthy: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health not 200 OK within 30s (last error %v)\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "# TYPE ") {
		t.Errorf("/metrics: %d\n%.500s", resp.StatusCode, body)
	}

	// A container runtime stops it with SIGTERM; it exits cleanly.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM\n%s", out.String())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
