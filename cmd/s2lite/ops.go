package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/backup"
	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/internal/cli"
	"github.com/s2lite/s2lite/objstore"
	"github.com/s2lite/s2lite/partition"
)

// The operator's tools: verify, backup, restore and checkpoints work on
// the storage of a database directly (the same --bucket/--path or
// --local-root flags as serve), with or without a server running on it;
// none of them writes to that storage except to pin what it reads.

// storageFlags name the database a tool works on.
type storageFlags struct {
	bucket, path, localRoot string
}

func (f *storageFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.bucket, "bucket", "", "S3 bucket of the database (credentials and endpoint from the AWS_* environment)")
	fs.StringVar(&f.path, "path", "", "base path inside the bucket or local root")
	fs.StringVar(&f.localRoot, "local-root", "", "local directory of the database")
}

func (f *storageFlags) open(ctx context.Context, log *slog.Logger) (*storage, error) {
	switch {
	case f.bucket != "" && f.localRoot != "":
		return nil, cli.Usage(errors.New("--bucket and --local-root cannot be used together"))
	case f.bucket == "" && f.localRoot == "":
		return nil, cli.Usage(errors.New("name the database's storage with --bucket (and --path) or --local-root"))
	}
	return openStorage(ctx, serveConfig{bucket: f.bucket, path: f.path, localRoot: f.localRoot}, log)
}

// openTarget opens a copy's destination: s3://bucket/prefix or a local
// directory.
func openTarget(ctx context.Context, dest string, log *slog.Logger) (*storage, error) {
	if dest == "" {
		return nil, cli.Usage(errors.New("--to is required: a local directory or s3://bucket/prefix"))
	}
	if rest, ok := strings.CutPrefix(dest, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, cli.Usage(fmt.Errorf("--to %q: no bucket", dest))
		}
		return openStorage(ctx, serveConfig{bucket: bucket, path: prefix}, log)
	}
	return openStorage(ctx, serveConfig{localRoot: dest}, log)
}

func toolLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// with opens the database's storage for fn and closes it after.
func (f *storageFlags) with(ctx context.Context, stderr io.Writer, fn func(*storage) error) error {
	st, err := f.open(ctx, toolLogger(stderr))
	if err != nil {
		return err
	}
	defer st.close()
	return fn(st)
}

func verifyCmd(stdout, stderr io.Writer) *cobra.Command {
	var sf storageFlags
	var deep bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that a database's manifest, tables and WAL are present and intact (exit 1 naming what is not)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sf.with(cmd.Context(), stderr, func(all *storage) error {
				units, _, err := databaseUnits(cmd.Context(), all.store)
				if err != nil {
					return err
				}
				for _, u := range units {
					st := unitStorage(all, u)
					rep, err := engine.Verify(cmd.Context(), st.store, engine.VerifyOptions{Deep: deep})
					if err != nil {
						return err
					}
					printReport(stdout, st.describe, rep)
					if !rep.OK() {
						return fmt.Errorf("%s is not a whole database: %s", st.describe, strings.Join(rep.Problems, "; "))
					}
					if rep.Empty && u == partition.Root && len(units) == 1 {
						return fmt.Errorf("%s holds no database", st.describe)
					}
				}
				return nil
			})
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&deep, "deep", false, "read every block of every table and check its checksum")
	return cmd
}

func printReport(w io.Writer, where string, rep *engine.VerifyReport) {
	fmt.Fprintf(w, "database:        %s\n", where)
	if rep.Empty {
		fmt.Fprintln(w, "state:           empty (no database)")
		return
	}
	fmt.Fprintf(w, "manifest:        version %d, writer epoch %d\n", rep.ManifestVersion, rep.WriterEpoch)
	fmt.Fprintf(w, "tables:          %d (%d bytes)\n", rep.Tables, rep.TableBytes)
	fmt.Fprintf(w, "wal:             objects %d..%d, %d with writes to replay\n", rep.WALFrom, rep.WALEnd, rep.WALApplied)
	fmt.Fprintf(w, "last sequence:   %d\n", rep.LastSeq)
	if !rep.AckedThrough.IsZero() {
		fmt.Fprintf(w, "acknowledged to: %s\n", rep.AckedThrough.UTC().Format(time.RFC3339Nano))
	}
	if rep.OK() {
		fmt.Fprintln(w, "state:           consistent")
		return
	}
	fmt.Fprintln(w, "state:           DAMAGED")
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// copyFlags are the options of backup and restore.
type copyFlags struct {
	to       string
	gcMinAge time.Duration
	parallel int
	noVerify bool
}

func (f *copyFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.to, "to", "", "destination: a local directory or s3://bucket/prefix")
	fs.DurationVar(&f.gcMinAge, "gc-min-age", 10*time.Minute, "the source server's --gc-min-age")
	fs.IntVar(&f.parallel, "parallel", 8, "objects copied at once")
	fs.BoolVar(&f.noVerify, "no-verify", false, "skip verifying the destination after the copy")
}

// copier copies from the database's storage to the destination's.
type copier func(ctx context.Context, src, dst *storage, log *slog.Logger) (backup.Stats, error)

// copyWith is the copier of backup.Copy with o.
func copyWith(cf *copyFlags, o backup.Options) copier {
	return func(ctx context.Context, src, dst *storage, log *slog.Logger) (backup.Stats, error) {
		o.GCMinAge, o.Parallel, o.Logger = cf.gcMinAge, cf.parallel, log
		return backup.Copy(ctx, src.store, dst.store, o)
	}
}

// databaseUnits lists the databases in store: the root alone, or, on a
// partitioned bucket (one served in cluster mode), the root and every
// partition holding a database, with the layout record.
func databaseUnits(ctx context.Context, store objstore.Store) ([]int, *partition.Layout, error) {
	l, ok, err := partition.Load(ctx, store)
	if err != nil || !ok {
		return []int{partition.Root}, nil, err
	}
	found, err := partition.Found(ctx, store, l)
	if err != nil {
		return nil, nil, err
	}
	return append([]int{partition.Root}, found...), &l, nil
}

// unitStorage is the storage of unit u of st.
func unitStorage(st *storage, u int) *storage {
	if u == partition.Root {
		return st
	}
	pre := partition.Prefix(u)
	return &storage{store: objstore.WithPrefix(st.store, pre), describe: st.describe + "/" + strings.TrimSuffix(pre, "/"), close: func() {}}
}

// runCopy opens both stores, copies, reports, and verifies the
// destination. A partitioned bucket is copied database by database (each
// consistent on its own: no stream spans two) with its layout record;
// wholeBucket copiers (from bucket versions) copy every key at once.
func runCopy(ctx context.Context, sf *storageFlags, cf *copyFlags, what string, copy copier, wholeBucket bool, stdout, stderr io.Writer) error {
	log := toolLogger(stderr)
	src, err := sf.open(ctx, log)
	if err != nil {
		return err
	}
	defer src.close()
	dst, err := openTarget(ctx, cf.to, log)
	if err != nil {
		return err
	}
	defer dst.close()
	units, layout := []int{partition.Root}, (*partition.Layout)(nil)
	if !wholeBucket {
		if units, layout, err = databaseUnits(ctx, src.store); err != nil {
			return err
		}
	}
	for _, u := range units {
		s, d := unitStorage(src, u), unitStorage(dst, u)
		st, err := copy(ctx, s, d, log)
		if err != nil {
			return fmt.Errorf("%s of %s to %s: %w", what, s.describe, d.describe, err)
		}
		reportCopy(stdout, what, s, d, st)
	}
	if layout != nil {
		if _, err := partition.Establish(ctx, dst.store, layout.Partitions); err != nil {
			return fmt.Errorf("writing the layout record to %s: %w", dst.describe, err)
		}
	}
	if cf.noVerify {
		return nil
	}
	if units, _, err = databaseUnits(ctx, dst.store); err != nil {
		return fmt.Errorf("verifying %s: %w", dst.describe, err)
	}
	for _, u := range units {
		d := unitStorage(dst, u)
		rep, err := engine.Verify(ctx, d.store, engine.VerifyOptions{})
		if err != nil {
			return fmt.Errorf("verifying %s: %w", d.describe, err)
		}
		if !rep.OK() {
			printReport(stdout, d.describe, rep)
			return fmt.Errorf("the copy in %s does not verify: %s", d.describe, strings.Join(rep.Problems, "; "))
		}
		fmt.Fprintf(stdout, "verified: %s is consistent (last sequence %d)\n", d.describe, rep.LastSeq)
	}
	return nil
}

func reportCopy(stdout io.Writer, what string, src, dst *storage, st backup.Stats) {
	fmt.Fprintf(stdout, "%s of %s to %s\n", what, src.describe, dst.describe)
	if st.Objects > 0 {
		fmt.Fprintf(stdout, "%d objects", st.Objects)
	} else {
		fmt.Fprintf(stdout, "manifest version %d; tables %d (%d copied); wal objects %d..%d (%d copied)",
			st.ManifestVersion, st.Tables, st.TablesCopied, st.WALFrom, st.WALEnd, st.WALCopied)
	}
	fmt.Fprintf(stdout, "; %d bytes in %v", st.BytesCopied, st.Duration.Round(time.Millisecond))
	if st.Duration > 0 {
		fmt.Fprintf(stdout, " (%.1f MiB/s)", float64(st.BytesCopied)/(1<<20)/st.Duration.Seconds())
	}
	fmt.Fprintln(stdout)
	if !st.AckedThrough.IsZero() {
		fmt.Fprintf(stdout, "holds every write acknowledged up to %s\n", st.AckedThrough.UTC().Format(time.RFC3339Nano))
	}
}

// copyCommand is a command that copies the database with o: backup and
// promote.
func copyCommand(use, short, long, what string, o backup.Options, stdout, stderr io.Writer) *cobra.Command {
	var sf storageFlags
	var cf copyFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCopy(cmd.Context(), &sf, &cf, what, copyWith(&cf, o), false, stdout, stderr)
		},
	}
	sf.register(cmd)
	cf.register(cmd)
	return cmd
}

func backupCmd(stdout, stderr io.Writer) *cobra.Command {
	return copyCommand("backup --to DEST",
		"Copy a consistent state of a database, running or not, to a local directory or s3://bucket/prefix",
		"Copy a consistent state of the database (the newest manifest version, its tables and the WAL from its\n"+
			"replay point) to DEST, while a server keeps running on it: the version is pinned against garbage\n"+
			"collection for the copy's duration, and the server is neither fenced nor paused. Objects DEST already\n"+
			"holds from an earlier backup are not copied again. DEST opens as an ordinary database (serve on it).",
		"backup", backup.Options{}, stdout, stderr)
}

func promoteCmd(stdout, stderr io.Writer) *cobra.Command {
	return copyCommand("promote --to DEST",
		"Copy a replica's latest consistent state into a new destination, to serve it after a failover",
		"Copy the newest state of a replica (a bucket kept by asynchronous replication, which nobody writes to)\n"+
			"whose tables have all arrived, with the WAL up to its first gap, into DEST, a new prefix or directory.\n"+
			"Serve DEST: objects that replication delivers late into the replica can never mix with it. The\n"+
			"replica itself is not written to.",
		"promotion", backup.Options{FromReplica: true}, stdout, stderr)
}

func restoreCmd(stdout, stderr io.Writer) *cobra.Command {
	var sf storageFlags
	var cf copyFlags
	var toCheckpoint, toTime, asOf string
	var fromVersions bool
	cmd := &cobra.Command{
		Use:   "restore --to DEST (--to-time T | --to-checkpoint NAME | --from-versions --as-of T)",
		Short: "Rebuild the state of a database as of a moment or a checkpoint into a new, empty destination",
		Long: "Rebuild into DEST (which must be empty) the state the database held at a moment of its restore\n" +
			"window (serve --checkpoint-interval and --checkpoint-retention): the newest checkpoint at or before\n" +
			"T, plus the WAL written up to T. The database itself is never changed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if fromVersions {
				if toCheckpoint != "" || toTime != "" || asOf == "" {
					return cli.Usage(errors.New("--from-versions takes --as-of T, and neither --to-time nor --to-checkpoint"))
				}
				t, err := parseTime(asOf)
				if err != nil {
					return cli.Usage(fmt.Errorf("--as-of: %w", err))
				}
				return runCopy(ctx, &sf, &cf, "restore", func(ctx context.Context, src, dst *storage, _ *slog.Logger) (backup.Stats, error) {
					if src.s3 == nil {
						return backup.Stats{}, cli.Usage(errors.New("--from-versions needs a bucket (--bucket), with versioning enabled"))
					}
					return backup.RestoreVersions(ctx, src.s3, dst.store, t, cf.parallel)
				}, true, stdout, stderr)
			}
			var o backup.Options
			var t time.Time
			switch {
			case (toCheckpoint == "") == (toTime == ""):
				return cli.Usage(errors.New("give exactly one of --to-time and --to-checkpoint"))
			case toCheckpoint != "":
				o.Checkpoint = toCheckpoint
			default:
				var err error
				if t, err = parseTime(toTime); err != nil {
					return cli.Usage(fmt.Errorf("--to-time: %w", err))
				}
			}
			// Each database (each partition of a partitioned bucket) has
			// restore points of its own: the newest at or before T is
			// picked in each.
			restore := func(ctx context.Context, src, dst *storage, log *slog.Logger) (backup.Stats, error) {
				o := o
				if !t.IsZero() {
					cp, err := checkpointAtOrBefore(ctx, src.store, t)
					if err != nil {
						return backup.Stats{}, err
					}
					o.Checkpoint, o.Until = cp.Name, t
				}
				return copyWith(&cf, o)(ctx, src, dst, log)
			}
			return runCopy(ctx, &sf, &cf, "restore", restore, false, stdout, stderr)
		},
	}
	sf.register(cmd)
	cf.register(cmd)
	cmd.Flags().StringVar(&toTime, "to-time", "", "the moment to restore (RFC 3339, e.g. 2026-12-04T20:00:00Z, or Unix milliseconds)")
	cmd.Flags().StringVar(&toCheckpoint, "to-checkpoint", "", "the checkpoint to restore")
	cmd.Flags().BoolVar(&fromVersions, "from-versions", false, "rebuild the bucket as of --as-of from its object versions (a bucket with versioning enabled)")
	cmd.Flags().StringVar(&asOf, "as-of", "", "with --from-versions: the moment to rebuild (RFC 3339 or Unix milliseconds)")
	return cmd
}

func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// checkpointAtOrBefore picks the newest checkpoint whose state does not
// go past t: created at or before t.
func checkpointAtOrBefore(ctx context.Context, store objstore.Store, t time.Time) (engine.Checkpoint, error) {
	cps, err := engine.ListCheckpointsIn(ctx, store)
	if err != nil {
		return engine.Checkpoint{}, err
	}
	var best *engine.Checkpoint
	var oldest time.Time
	for i := range cps {
		cp := &cps[i]
		if oldest.IsZero() || cp.CreatedAt.Before(oldest) {
			oldest = cp.CreatedAt
		}
		if !cp.CreatedAt.After(t) && (best == nil || cp.CreatedAt.After(best.CreatedAt)) {
			best = cp
		}
	}
	if best == nil {
		if len(cps) == 0 {
			return engine.Checkpoint{}, errors.New("the database has no checkpoints: enable restore points with serve --checkpoint-interval")
		}
		return engine.Checkpoint{}, fmt.Errorf("%s is before the restore window, which starts at %s", t.UTC().Format(time.RFC3339), oldest.UTC().Format(time.RFC3339))
	}
	return *best, nil
}

func checkpointsCmd(stdout, stderr io.Writer) *cobra.Command {
	var sf storageFlags
	cmd := &cobra.Command{
		Use:   "checkpoints",
		Short: "List a database's checkpoints (restore points and backup pins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sf.with(cmd.Context(), stderr, func(st *storage) error {
				cps, err := engine.ListCheckpointsIn(cmd.Context(), st.store)
				if err != nil {
					return err
				}
				sort.Slice(cps, func(i, j int) bool { return cps[i].CreatedAt.Before(cps[j].CreatedAt) })
				for _, cp := range cps {
					exp := "never"
					if !cp.ExpiresAt.IsZero() {
						exp = cp.ExpiresAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(stdout, "%s  manifest %d  created %s  expires %s\n", cp.Name, cp.ManifestVersion, cp.CreatedAt.UTC().Format(time.RFC3339), exp)
				}
				return nil
			})
		},
	}
	sf.register(cmd)
	return cmd
}
