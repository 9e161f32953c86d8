package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
	"github.com/s2lite/s2lite/internal/humandur"
	"github.com/s2lite/s2lite/internal/initspec"
)

// streamURI is s2://basin/stream.
type streamURI struct{ basin, stream string }

func (u streamURI) String() string { return "s2://" + u.basin + "/" + u.stream }

// parseS2URI splits "s2://basin[/rest]". A string without a scheme is a
// bare basin name when bareOK.
func parseS2URI(s string, bareOK bool) (basin, rest string, hasRest bool, err error) {
	scheme, after, ok := strings.Cut(s, "://")
	if !ok {
		if !bareOK {
			return "", "", false, usagef("%q: missing S2 URI scheme, expected s2://{basin}/{stream}", s)
		}
		after = s
	} else if scheme != "s2" {
		return "", "", false, usagef("%q: invalid S2 URI scheme %q, expected s2", s, scheme)
	}
	basin, rest, hasRest = strings.Cut(after, "/")
	if basin == "" {
		return "", "", false, usagef("%q: missing basin name", s)
	}
	return basin, rest, hasRest && rest != "", nil
}

// parseStreamURI parses s2://basin/stream.
func parseStreamURI(s string) (streamURI, error) {
	basin, stream, ok, err := parseS2URI(s, false)
	if err != nil {
		return streamURI{}, err
	}
	if !ok {
		return streamURI{}, usagef("%q: missing stream name, expected s2://{basin}/{stream}", s)
	}
	return streamURI{basin, stream}, nil
}

// parseBasinURI parses a basin name or s2://basin.
func parseBasinURI(s string) (string, error) {
	basin, _, hasStream, err := parseS2URI(s, true)
	if err != nil {
		return "", err
	}
	if hasStream {
		return "", usagef("%q: unexpected stream name, expected a basin", s)
	}
	return basin, nil
}

// optBool is a flag that takes true or false (--flag true), as the
// official CLI's optional booleans do; unset means "leave as it is".
type optBool struct{ v *bool }

func (b *optBool) String() string {
	if b.v == nil {
		return ""
	}
	return strconv.FormatBool(*b.v)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("expected true or false")
	}
	b.v = &v
	return nil
}

func (b *optBool) Type() string { return "bool" }

// choice is a string flag limited to some values.
type choice struct {
	v       string
	allowed []string
}

func (c *choice) String() string { return c.v }
func (c *choice) Set(s string) error {
	for _, a := range c.allowed {
		if s == a {
			c.v = s
			return nil
		}
	}
	return fmt.Errorf("possible values: %s", strings.Join(c.allowed, ", "))
}
func (c *choice) Type() string { return "string" }

// streamConfigFlags are --storage-class, --retention-policy,
// --timestamping-mode, --timestamping-uncapped and
// --delete-on-empty-min-age.
type streamConfigFlags struct {
	storageClass  choice
	retention     string
	mode          choice
	uncapped      optBool
	deleteOnEmpty string
}

func (f *streamConfigFlags) register(cmd *cobra.Command) {
	f.storageClass.allowed = []string{client.StorageClassStandard, client.StorageClassExpress}
	f.mode.allowed = []string{client.TimestampingClientPrefer, client.TimestampingClientRequire, client.TimestampingArrival}
	fs := cmd.Flags()
	fs.Var(&f.storageClass, "storage-class", "storage class for a stream: standard or express")
	fs.StringVar(&f.retention, "retention-policy", "", "retention policy for a stream: a duration (1d, 1w, 1y) or infinite")
	fs.Var(&f.mode, "timestamping-mode", "timestamping mode: client-prefer, client-require or arrival")
	fs.Var(&f.uncapped, "timestamping-uncapped", "allow client timestamps in the future (true or false)")
	fs.StringVar(&f.deleteOnEmpty, "delete-on-empty-min-age", "", "minimum age before an empty stream is deleted (e.g. 1d; 0s disables)")
}

// config builds the StreamConfig the flags declare, or nil when none is
// set.
func (f *streamConfigFlags) config(cmd *cobra.Command) (*client.StreamConfig, error) {
	var sc client.StreamConfig
	set := false
	if f.storageClass.v != "" {
		sc.StorageClass, set = &f.storageClass.v, true
	}
	if cmd.Flags().Changed("retention-policy") {
		r, err := parseRetention(f.retention)
		if err != nil {
			return nil, err
		}
		sc.RetentionPolicy, set = &r, true
	}
	if f.mode.v != "" || f.uncapped.v != nil {
		sc.Timestamping, set = &client.Timestamping{Uncapped: f.uncapped.v}, true
		if f.mode.v != "" {
			sc.Timestamping.Mode = &f.mode.v
		}
	}
	if cmd.Flags().Changed("delete-on-empty-min-age") {
		secs, err := humandur.Parse(f.deleteOnEmpty)
		if err != nil {
			return nil, usagef("--delete-on-empty-min-age: %v", err)
		}
		sc.DeleteOnEmpty, set = &client.DeleteOnEmpty{MinAgeSecs: secs}, true
	}
	if !set {
		return nil, nil
	}
	return &sc, nil
}

// reconfiguration builds the patch the flags declare: flags not given
// leave their fields as they are.
func (f *streamConfigFlags) reconfiguration(cmd *cobra.Command) (client.StreamReconfiguration, error) {
	var r client.StreamReconfiguration
	sc, err := f.config(cmd)
	if err != nil || sc == nil {
		return r, err
	}
	if sc.StorageClass != nil {
		r.StorageClass = client.SetTo(*sc.StorageClass)
	}
	if sc.RetentionPolicy != nil {
		r.RetentionPolicy = client.SetTo(*sc.RetentionPolicy)
	}
	if t := sc.Timestamping; t != nil {
		var tr client.TimestampingReconfiguration
		if t.Mode != nil {
			tr.Mode = client.SetTo(*t.Mode)
		}
		if t.Uncapped != nil {
			tr.Uncapped = client.SetTo(*t.Uncapped)
		}
		r.Timestamping = client.SetTo(tr)
	}
	if d := sc.DeleteOnEmpty; d != nil {
		r.DeleteOnEmpty = client.SetTo(client.DeleteOnEmptyReconfiguration{MinAgeSecs: client.SetTo(d.MinAgeSecs)})
	}
	return r, nil
}

func parseRetention(s string) (client.RetentionPolicy, error) {
	r, err := initspec.ParseRetention(s)
	if err != nil {
		return client.RetentionPolicy{}, usagef("--retention-policy: invalid retention policy %q: expected a duration, or 'infinite' (%v)", s, err)
	}
	return client.RetentionPolicy{Infinite: r.Infinite, AgeSecs: r.AgeSecs}, nil
}

// cipherChoice is --stream-cipher.
func cipherChoice() *choice {
	return &choice{allowed: []string{"aegis-256", "aes-256-gcm"}}
}

// listFlags are -p/--prefix, -s/--start-after, -n/--limit and
// --no-auto-paginate.
type listFlags struct {
	prefix, startAfter string
	limit              int
	noAutoPaginate     bool
}

func (f *listFlags) register(cmd *cobra.Command, what string) {
	fs := cmd.Flags()
	fs.StringVarP(&f.prefix, "prefix", "p", "", "filter to "+what+" names that begin with this prefix")
	fs.StringVarP(&f.startAfter, "start-after", "s", "", "filter to "+what+" names that lexicographically start after this name")
	fs.IntVarP(&f.limit, "limit", "n", 0, "limit the number of "+what+"s to return; the page size (max 1000) with --no-auto-paginate")
	fs.BoolVar(&f.noAutoPaginate, "no-auto-paginate", false, "return only a single page instead of auto-paginating")
}

func (f *listFlags) options() (client.ListOptions, error) {
	if f.limit < 0 {
		return client.ListOptions{}, usagef("--limit: must not be negative")
	}
	return client.ListOptions{Prefix: f.prefix, StartAfter: f.startAfter, Limit: f.limit}, nil
}

// keyFlags are the official CLI's -k/--encryption-key (also
// S2_ENCRYPTION_KEY) and --encryption-key-file: the base64 of the 32-byte
// key of an encrypted stream (API 7.9), for append, read and tail, and
// here also for trim, fence, export and import, whose appends and reads
// need it as well.
type keyFlags struct {
	key, file string
}

func (f *keyFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVarP(&f.key, "encryption-key", "k", "", "base64 of the 32-byte key of an encrypted stream (default $S2_ENCRYPTION_KEY; a flag shows in the process list, the variable and --encryption-key-file do not)")
	fs.StringVar(&f.file, "encryption-key-file", "", "read the base64 of the encryption key from this file")
	cmd.MarkFlagsMutuallyExclusive("encryption-key", "encryption-key-file")
}

// resolve returns the key the flags or S2_ENCRYPTION_KEY give (a flag
// wins over the variable), or the zero key when none is given. Errors
// never repeat the key.
func (f *keyFlags) resolve(a *app, cmd *cobra.Command) (client.EncryptionKey, error) {
	var text, source string
	switch {
	case cmd.Flags().Changed("encryption-key"):
		text, source = f.key, "--encryption-key"
	case cmd.Flags().Changed("encryption-key-file"):
		data, err := os.ReadFile(f.file)
		if err != nil {
			return client.EncryptionKey{}, usagef("cannot read encryption key file: %v", err)
		}
		defer clear(data)
		text, source = string(data), "--encryption-key-file "+f.file
	default:
		text, source = a.env.Getenv("S2_ENCRYPTION_KEY"), "S2_ENCRYPTION_KEY"
		if strings.TrimSpace(text) == "" {
			return client.EncryptionKey{}, nil
		}
	}
	k, err := client.ParseEncryptionKey(text)
	if err != nil {
		return client.EncryptionKey{}, usagef("%s: %v", source, strings.TrimPrefix(err.Error(), "client: "))
	}
	return k, nil
}
