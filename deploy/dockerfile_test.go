package deploy

// The repository's Dockerfile and .dockerignore, read as text: there is no
// Docker daemon to build them with here. The image test builds an
// equivalent image without one.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	cmd  string // upper case
	args string
}

type stage struct {
	from string
	name string
	ins  []instruction
}

func parseDockerfile(t *testing.T, path string) (global []instruction, stages []stage) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	for _, l := range lines {
		cmd, args, _ := strings.Cut(l, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			var st stage
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					st.name = f[i+1]
					i++
				default:
					st.from = f[i]
				}
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			global = append(global, in)
		} else {
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		}
	}
	return global, stages
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func (s stage) last(cmd string) (string, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return "", false
	}
	return all[len(all)-1], true
}

// goDirective is the go line of the main module's go.mod.
func goDirective(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no go directive in ../go.mod")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	global, stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// The build stage: the official Go image at go.mod's version.
	goVersion := ""
	for _, in := range global {
		if in.cmd == "ARG" && strings.HasPrefix(in.args, "GO_VERSION=") {
			goVersion = strings.TrimPrefix(in.args, "GO_VERSION=")
		}
	}
	from := strings.ReplaceAll(build.from, "${GO_VERSION}", goVersion)
	want := goDirective(t)
	tag, ok := strings.CutPrefix(from, "golang:")
	if !ok {
		t.Fatalf("build stage FROM %s, want the official golang image", build.from)
	}
	if v := strings.SplitN(tag, "-", 2)[0]; v != want && !strings.HasPrefix(want, v+".") {
		t.Errorf("build stage golang:%s does not match go.mod's go %s", tag, want)
	}
	runs := strings.Join(build.all("RUN"), "\n")
	for _, s := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "./cmd/s2lite"} {
		if !strings.Contains(runs, s) {
			t.Errorf("build stage RUN lacks %s:\n%s", s, runs)
		}
	}

	// The final stage.
	if final.from != "gcr.io/distroless/static-debian12:nonroot" && final.from != "scratch" {
		t.Errorf("final stage FROM %s, want distroless static nonroot", final.from)
	}
	copied := false
	for _, c := range final.all("COPY") {
		if strings.HasPrefix(c, "--from="+build.name+" ") && strings.HasSuffix(c, " /s2lite") {
			copied = true
		}
	}
	if !copied {
		t.Errorf("final stage does not COPY the binary from %s to /s2lite: %v", build.name, final.all("COPY"))
	}
	if user, _ := final.last("USER"); !slices.Contains([]string{"nonroot", "nonroot:nonroot", "65532", "65532:65532"}, user) {
		t.Errorf("USER %q, want nonroot or 65532", user)
	}
	jsonForm := func(cmd string) []string {
		raw, ok := final.last(cmd)
		if !ok {
			t.Errorf("no %s in the final stage", cmd)
			return nil
		}
		var v []string
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Errorf("%s %s is not in exec (JSON) form: %v", cmd, raw, err)
		}
		return v
	}
	if v := jsonForm("ENTRYPOINT"); !slices.Equal(v, imageEntrypoint) {
		t.Errorf("ENTRYPOINT %q, want %q", v, imageEntrypoint)
	}
	if v := jsonForm("CMD"); !slices.Equal(v, imageCmd) {
		t.Errorf("CMD %q, want %q", v, imageCmd)
	}
	if ports := strings.Fields(strings.Join(final.all("EXPOSE"), " ")); !slices.Contains(ports, "8080") && !slices.Contains(ports, "8080/tcp") {
		t.Errorf("EXPOSE %v, want 8080", ports)
	}
	// No shell or package manager in the final stage to RUN with.
	if r := final.all("RUN"); len(r) > 0 {
		t.Errorf("final stage runs commands %v", r)
	}
}

// dockerignoreMatcher reports whether a context path is excluded, following
// Docker's rules for the patterns used here: paths relative to the context
// root, `*` and `?` within a path segment, `**` across segments, a pattern
// that matches a directory excluding all below it, and `!` re-including.
func dockerignoreMatcher(t *testing.T, path string) func(string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		re     *regexp.Regexp
		negate bool
	}
	var rules []rule
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		r := rule{}
		if strings.HasPrefix(l, "!") {
			r.negate, l = true, l[1:]
		}
		l = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(l)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(l); i++ {
			switch c := l[i]; {
			case strings.HasPrefix(l[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(l[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		r.re = regexp.MustCompile(re.String())
		rules = append(rules, r)
	}
	return func(p string) bool {
		excluded := false
		parts := strings.Split(p, "/")
		for _, r := range rules {
			for i := 1; i <= len(parts); i++ {
				if r.re.MatchString(strings.Join(parts[:i], "/")) {
					excluded = !r.negate
					break
				}
			}
		}
		return excluded
	}
}

func TestDockerignore(t *testing.T) {
	excluded := dockerignoreMatcher(t, "../.dockerignore")
	for _, p := range []string{".git", ".git/HEAD", "bench/results", "bench/results/engine.md", "compat/node_modules/x/y.js", "deploy/helm_test.go", "s2lite"} {
		if !excluded(p) {
			t.Errorf("%s is sent to the build context", p)
		}
	}
	// What `go build ./cmd/s2lite` reads must stay: go.mod, go.sum and the
	// Go files of every package of this module it compiles.
	if testing.Short() {
		return
	}
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`, "./cmd/s2lite")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rootDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		rel, err := filepath.Rel(rootDir, f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range f[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, name)))
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, p := range needed {
		if excluded(p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}
