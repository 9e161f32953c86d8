package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/spf13/cobra"

	"github.com/s2lite/s2lite/client"
)

// Export and import of a stream with its positions (an s2lite extension):
// a header line with the stream's configuration, its records as
// json-base64 lines (the read command's format), and a trailer line with
// the tail, trim point and fencing token. import writes the records back
// at the same sequence numbers and timestamps into a new stream.

type exportHeader struct {
	Version int                 `json:"s2lite_export"`
	Basin   string              `json:"basin"`
	Stream  string              `json:"stream"`
	Config  client.StreamConfig `json:"config"`
	// Cipher is the stream's cipher where it was exported; the export
	// itself holds the records decrypted.
	Cipher *string `json:"cipher,omitempty"`
}

type exportTrailer struct {
	End struct {
		client.ImportFinish
		Records uint64 `json:"records"`
	} `json:"s2lite_export_end"`
}

func (a *app) exportCmd() *cobra.Command {
	var output string
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "export BASIN|S2_URI",
		Short: "Export a stream, or a basin and all its streams, with sequence numbers, timestamps, trim points and fencing tokens",
		Long: "Export a stream, or a basin and all its streams, with sequence numbers, timestamps, trim points and\n" +
			"fencing tokens. Encrypted streams need their key (-k, --encryption-key-file or S2_ENCRYPTION_KEY; one key\n" +
			"for all the encrypted streams of a basin), and the export holds their records decrypted: protect it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			basin, stream, isStream, err := parseS2URI(args[0], true)
			if err != nil {
				return err
			}
			key, err := kf.resolve(a, cmd)
			if err != nil {
				return err
			}
			return a.withClient(func(c *client.Client) error {
				var w io.Writer = a.env.Stdout
				var f *os.File
				if output != "" && output != "-" {
					if f, err = os.Create(output); err != nil {
						return fmt.Errorf("failed to write the export: %w", err)
					}
					defer f.Close()
					w = f
				}
				bw := bufio.NewWriterSize(w, 256<<10)
				if isStream {
					err = a.exportOneStream(c, streamURI{basin, stream}, key, bw)
				} else {
					err = a.exportBasin(c, basin, key, bw)
				}
				if err != nil {
					return err
				}
				if err := bw.Flush(); err != nil {
					return fmt.Errorf("failed to write the export: %w", err)
				}
				if f != nil {
					if err := f.Close(); err != nil {
						return fmt.Errorf("failed to write the export: %w", err)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "-", `write the export to a file, or "-" for stdout`)
	kf.register(cmd)
	return cmd
}

// basinHeader starts the export of a whole basin; each of its streams
// follows as a stream export (header, records, trailer).
type basinHeader struct {
	Version     int                `json:"s2lite_export"`
	Basin       string             `json:"basin"`
	BasinConfig client.BasinConfig `json:"basin_config"`
	Streams     int                `json:"streams"`
}

func (a *app) exportBasin(c *client.Client, basin string, key client.EncryptionKey, w *bufio.Writer) error {
	cfg, err := c.GetBasinConfig(a.ctx, basin)
	if err != nil {
		return op("export", err)
	}
	var streams []client.StreamInfo
	for s, err := range c.Basin(basin).AllStreams(a.ctx, client.ListOptions{}) {
		if err != nil {
			return op("export", err)
		}
		if s.DeletedAt == nil {
			streams = append(streams, s)
		}
	}
	line, _ := json.Marshal(basinHeader{Version: 1, Basin: basin, BasinConfig: cfg, Streams: len(streams)})
	w.Write(append(line, '\n'))
	for _, s := range streams {
		if err := a.exportStream(c, streamURI{basin, s.Name}, s.Cipher, key, w); err != nil {
			return err
		}
	}
	a.status(green, "✓ [EXPORTED] basin %s: %d streams", basin, len(streams))
	return nil
}

// exportOneStream exports a stream named on the command line: its cipher
// comes from the listing of its basin.
func (a *app) exportOneStream(c *client.Client, u streamURI, key client.EncryptionKey, bw *bufio.Writer) error {
	page, err := c.Basin(u.basin).ListStreams(a.ctx, client.ListOptions{Prefix: u.stream, Limit: 1})
	if err != nil {
		return op("export", err)
	}
	var cipher *string
	if len(page.Streams) == 1 && page.Streams[0].Name == u.stream {
		cipher = page.Streams[0].Cipher
	}
	return a.exportStream(c, u, cipher, key, bw)
}

func (a *app) exportStream(c *client.Client, u streamURI, cipher *string, key client.EncryptionKey, bw *bufio.Writer) error {
	s := c.Basin(u.basin).Stream(u.stream).WithEncryptionKey(key)
	cfg, err := c.Basin(u.basin).GetStreamConfig(a.ctx, u.stream)
	if err != nil {
		return op("export", err)
	}
	tail, err := s.CheckTail(a.ctx)
	if err != nil {
		return op("export", err)
	}
	line, _ := json.Marshal(exportHeader{Version: 1, Basin: u.basin, Stream: u.stream, Config: cfg, Cipher: cipher})
	bw.Write(append(line, '\n'))

	var end exportTrailer
	end.End.Tail, end.End.TrimPoint = tail, tail.SeqNum
	token, haveToken := "", false
	if tail.SeqNum > 0 {
		count := tail.SeqNum
		rs, err := s.ReadSession(a.ctx, client.ReadOptions{Start: client.FromSeqNum(0), Count: &count})
		if err != nil {
			return op("export", err)
		}
		defer rs.Close()
		var buf []byte
	read:
		for {
			b, err := rs.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return op("export", err)
			}
			for i := range b.Records {
				r := &b.Records[i]
				if r.SeqNum >= tail.SeqNum {
					break read
				}
				if end.End.Records == 0 {
					end.End.TrimPoint = r.SeqNum
				}
				if r.Command() == client.CommandFence {
					token, haveToken = string(r.Body), true
				}
				buf = append(appendRecordJSON(buf[:0], r, true), '\n')
				if _, err := bw.Write(buf); err != nil {
					return fmt.Errorf("failed to write the export: %w", err)
				}
				end.End.Records++
				if r.SeqNum == tail.SeqNum-1 {
					break read
				}
			}
		}
	}
	if !haveToken {
		// No fence among the exported records: the token was set before
		// the trim point, or never. The server tells it in a refused
		// append; a fence appended meanwhile would show in the log.
		if token, err = a.currentToken(s, tail); err != nil {
			return op("export", err)
		}
	}
	end.End.FencingToken = token
	line, _ = json.Marshal(end)
	if _, err := bw.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("failed to write the export: %w", err)
	}
	a.status(green, "✓ [EXPORTED] %s: %d records, %d..%d // tail: %d @ %d", u, end.End.Records, end.End.TrimPoint, tail.SeqNum, tail.SeqNum, tail.Timestamp)
	return nil
}

// currentToken learns the stream's fencing token as of tail: an append
// with a token nobody uses and an impossible match_seq_num is refused with
// the current token (the fencing check comes first, and either check
// refuses it, so nothing is written). If the stream moved past tail, a
// fence among the new records would make the answer newer than tail.
func (a *app) currentToken(s *client.Stream, tail client.Position) (string, error) {
	probe := "s2lite-export-probe-" + randomHex(8)
	never := uint64(math.MaxUint64)
	_, err := s.Append(a.ctx, client.AppendInput{Records: []client.AppendRecord{{Body: []byte{}}}, FencingToken: &probe, MatchSeqNum: &never})
	var ce *client.AppendConditionError
	if !errors.As(err, &ce) {
		return "", fmt.Errorf("learning the fencing token: %v", err)
	}
	token := ""
	if ce.FencingTokenMismatch != nil {
		token = *ce.FencingTokenMismatch
	}
	now, err := s.CheckTail(a.ctx)
	if err != nil {
		return "", err
	}
	if now.SeqNum != tail.SeqNum {
		b, err := s.Read(a.ctx, client.ReadOptions{Start: client.FromSeqNum(tail.SeqNum)})
		if err != nil {
			return "", err
		}
		for i := range b.Records {
			if b.Records[i].Command() == client.CommandFence {
				return "", errors.New("the stream was fenced while it was exported: export it again once writers are stopped")
			}
		}
	}
	return token, nil
}

func (a *app) importCmd() *cobra.Command {
	var input string
	var resume bool
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "import BASIN|S2_URI",
		Short: "Import an export into new streams, keeping sequence numbers and timestamps (the server needs --enable-import)",
		Long: "Import a stream export into a new stream s2://basin/stream, or a basin export into basin BASIN\n" +
			"(created with the exported configuration when missing; its streams must not exist yet).\n" +
			"With --resume, an import that was cut short continues: streams that exist keep the records\n" +
			"they have, and the export's records from their tail on are imported.\n" +
			"A stream is encrypted if its basin has a stream cipher (create-basin --stream-cipher; a basin export\n" +
			"carries it); its records are then imported with the key (-k, --encryption-key-file or S2_ENCRYPTION_KEY).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			basin, stream, isStream, err := parseS2URI(args[0], true)
			if err != nil {
				return err
			}
			key, err := kf.resolve(a, cmd)
			if err != nil {
				return err
			}
			in := a.env.Stdin
			if input != "" && input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("failed to open input: %w", err)
				}
				defer f.Close()
				in = f
			}
			sc := bufio.NewScanner(in)
			sc.Buffer(make([]byte, 64<<10), maxInputLine)
			return a.withClient(func(c *client.Client) error {
				if !sc.Scan() {
					return errors.New("the export is empty: no header line")
				}
				var probe struct {
					Version     int              `json:"s2lite_export"`
					BasinConfig *json.RawMessage `json:"basin_config"`
				}
				if json.Unmarshal(sc.Bytes(), &probe) != nil || probe.Version != 1 {
					return errors.New("not an s2lite export (version 1): the first line is not its header")
				}
				lines := &lineReader{sc: sc, n: 1}
				if probe.BasinConfig == nil {
					if !isStream {
						return usagef("this is the export of one stream: import it into s2://basin/stream")
					}
					return a.importStream(c, streamURI{basin, stream}, key, sc.Bytes(), lines, resume)
				}
				if isStream {
					return usagef("this is the export of a basin: import it into a basin (BASIN or s2://basin)")
				}
				var hdr basinHeader
				if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil {
					return fmt.Errorf("the basin header: %w", err)
				}
				if _, err := c.CreateBasin(a.ctx, basin, client.CreateBasinOptions{Config: &hdr.BasinConfig}); err != nil && !isCode(err, "resource_already_exists") {
					return op("import", err)
				}
				for i := range hdr.Streams {
					first, ok := lines.next()
					if !ok {
						return fmt.Errorf("the export ends after %d of its %d streams (truncated?)", i, hdr.Streams)
					}
					var sh exportHeader
					if err := json.Unmarshal(first, &sh); err != nil || sh.Version != 1 || sh.Stream == "" {
						return fmt.Errorf("line %d: expected the header of a stream", lines.n)
					}
					if err := a.importStream(c, streamURI{basin, sh.Stream}, key, first, lines, resume); err != nil {
						return err
					}
				}
				if err := lines.err(); err != nil {
					return err
				}
				a.status(green, "✓ Import of basin %s finished: %d streams", basin, hdr.Streams)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "-", `read the export from a file, or "-" for stdin`)
	cmd.Flags().BoolVar(&resume, "resume", false, "continue an import that was cut short: existing streams continue from their tail")
	kf.register(cmd)
	return cmd
}

// lineReader numbers the lines of an export.
type lineReader struct {
	sc *bufio.Scanner
	n  int
}

func (l *lineReader) next() ([]byte, bool) {
	if !l.sc.Scan() {
		return nil, false
	}
	l.n++
	return l.sc.Bytes(), true
}

func (l *lineReader) err() error {
	if err := l.sc.Err(); err != nil {
		return fmt.Errorf("failed to read input after line %d: %w", l.n, err)
	}
	return nil
}

func isCode(err error, code string) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == code
}

// importStream imports one stream's section: its header line (given), its
// records and its trailer.
func (a *app) importStream(c *client.Client, u streamURI, key client.EncryptionKey, headerLine []byte, lines *lineReader, resume bool) error {
	var hdr exportHeader
	if err := json.Unmarshal(headerLine, &hdr); err != nil {
		return fmt.Errorf("the stream header: %w", err)
	}
	b := c.Basin(u.basin)
	s := b.Stream(u.stream).WithEncryptionKey(key)
	// from is the first sequence number still to import: 0 for a new
	// stream; a resumed one has everything below its tail already (the
	// server writes an import batch whole or not at all).
	var from uint64
	info, err := b.CreateStream(a.ctx, u.stream, client.CreateStreamOptions{Config: &hdr.Config})
	if err == nil && hdr.Cipher != nil && info.Cipher == nil {
		a.status(yellow, "⚠ %s was encrypted (%s) where it was exported, but its new basin %s has no stream cipher: its records are stored in clear", u, *hdr.Cipher, u.basin)
	}
	if err != nil {
		if !resume || !isCode(err, "resource_already_exists") {
			return op("import", fmt.Errorf("creating stream %s: %s (import needs a new stream, or --resume to continue one)", u, describe(err)))
		}
		tail, err := s.CheckTail(a.ctx)
		if err != nil {
			return op("import", err)
		}
		from = tail.SeqNum
	}
	var batch []client.SequencedRecord
	var batchBytes int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		tail, err := s.Import(a.ctx, batch, nil)
		if err != nil {
			return op("import", err)
		}
		a.status(green, "✓ [IMPORTED] %s %d..%d // tail: %d @ %d", u, batch[0].SeqNum, batch[len(batch)-1].SeqNum+1, tail.SeqNum, tail.Timestamp)
		batch, batchBytes = nil, 0
		return nil
	}
	for {
		line, ok := lines.next()
		if !ok {
			break
		}
		var probe struct {
			End *json.RawMessage `json:"s2lite_export_end"`
		}
		if json.Unmarshal(line, &probe) == nil && probe.End != nil {
			var end exportTrailer
			if err := json.Unmarshal(line, &end); err != nil {
				return fmt.Errorf("failed to parse the trailer (line %d): %w", lines.n, err)
			}
			if err := flush(); err != nil {
				return err
			}
			tail, err := s.Import(a.ctx, nil, &end.End.ImportFinish)
			if err != nil {
				return op("import", err)
			}
			a.status(green, "✓ Import of %s finished // tail: %d @ %d", u, tail.SeqNum, tail.Timestamp)
			return nil
		}
		r, err := parseExportedRecord(line)
		if err != nil {
			return fmt.Errorf("failed to parse input line %d: %w", lines.n, err)
		}
		if r.SeqNum < from {
			continue
		}
		size := r.MeteredSize()
		if len(batch) == client.MaxBatchRecords || batchBytes+size > client.MaxBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, r)
		batchBytes += size
	}
	if err := lines.err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	return fmt.Errorf("the export of %s ends without its trailer line (truncated?): the records were imported, the tail, trim point and fencing token were not set", u)
}

// parseExportedRecord reads a json-base64 line with its position.
func parseExportedRecord(line []byte) (client.SequencedRecord, error) {
	var pos struct {
		SeqNum    *uint64 `json:"seq_num"`
		Timestamp *uint64 `json:"timestamp"`
	}
	if err := json.Unmarshal(line, &pos); err != nil {
		return client.SequencedRecord{}, err
	}
	if pos.SeqNum == nil || pos.Timestamp == nil {
		return client.SequencedRecord{}, errors.New("a record needs seq_num and timestamp")
	}
	rec, err := parseRecordLine(line, formatJSONBase64)
	if err != nil {
		return client.SequencedRecord{}, err
	}
	return client.SequencedRecord{SeqNum: *pos.SeqNum, Timestamp: *pos.Timestamp, Headers: rec.Headers, Body: rec.Body}, nil
}
