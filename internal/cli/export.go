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
}

type exportTrailer struct {
	End struct {
		client.ImportFinish
		Records uint64 `json:"records"`
	} `json:"s2lite_export_end"`
}

func (a *app) exportCmd() *cobra.Command {
	var output string
	cmd := a.streamCmd("export S2_URI", "Export a stream with its sequence numbers, timestamps, trim point and fencing token", 0,
		func(_ *cobra.Command, c *client.Client, u streamURI, _ []string) error {
			return a.export(c, u, output)
		})
	cmd.Flags().StringVarP(&output, "output", "o", "-", `write the export to a file, or "-" for stdout`)
	return cmd
}

func (a *app) export(c *client.Client, u streamURI, output string) error {
	s := c.Basin(u.basin).Stream(u.stream)
	cfg, err := c.Basin(u.basin).GetStreamConfig(a.ctx, u.stream)
	if err != nil {
		return op("export", err)
	}
	tail, err := s.CheckTail(a.ctx)
	if err != nil {
		return op("export", err)
	}
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
	line, _ := json.Marshal(exportHeader{Version: 1, Basin: u.basin, Stream: u.stream, Config: cfg})
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
	bw.Write(append(line, '\n'))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("failed to write the export: %w", err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("failed to write the export: %w", err)
		}
	}
	a.status(green, "✓ [EXPORTED] %d records, %d..%d // tail: %d @ %d", end.End.Records, end.End.TrimPoint, tail.SeqNum, tail.SeqNum, tail.Timestamp)
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
	cmd := a.streamCmd("import S2_URI", "Import an export into a new stream, keeping sequence numbers and timestamps (the server needs --enable-import)", 0,
		func(_ *cobra.Command, c *client.Client, u streamURI, _ []string) error {
			in := a.env.Stdin
			if input != "" && input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("failed to open input: %w", err)
				}
				defer f.Close()
				in = f
			}
			return a.importStream(c, u, in)
		})
	cmd.Flags().StringVarP(&input, "input", "i", "-", `read the export from a file, or "-" for stdin`)
	return cmd
}

func (a *app) importStream(c *client.Client, u streamURI, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxInputLine)
	if !sc.Scan() {
		return errors.New("the export is empty: no header line")
	}
	var hdr exportHeader
	if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil || hdr.Version != 1 {
		return fmt.Errorf("not an s2lite export (version 1): the first line is not its header")
	}
	b := c.Basin(u.basin)
	if _, err := b.CreateStream(a.ctx, u.stream, client.CreateStreamOptions{Config: &hdr.Config}); err != nil {
		return op("import", fmt.Errorf("creating the stream (import needs a new stream): %w", err))
	}
	s := b.Stream(u.stream)
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
		a.status(green, "✓ [IMPORTED] %d..%d // tail: %d @ %d", batch[0].SeqNum, batch[len(batch)-1].SeqNum+1, tail.SeqNum, tail.Timestamp)
		batch, batchBytes = nil, 0
		return nil
	}
	n := 1
	for sc.Scan() {
		n++
		line := sc.Bytes()
		var probe struct {
			End *json.RawMessage `json:"s2lite_export_end"`
		}
		if json.Unmarshal(line, &probe) == nil && probe.End != nil {
			var end exportTrailer
			if err := json.Unmarshal(line, &end); err != nil {
				return fmt.Errorf("failed to parse the trailer (line %d): %w", n, err)
			}
			if err := flush(); err != nil {
				return err
			}
			tail, err := s.Import(a.ctx, nil, &end.End.ImportFinish)
			if err != nil {
				return op("import", err)
			}
			a.status(green, "✓ Import finished // tail: %d @ %d", tail.SeqNum, tail.Timestamp)
			return nil
		}
		r, err := parseExportedRecord(line)
		if err != nil {
			return fmt.Errorf("failed to parse input line %d: %w", n, err)
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
	if err := sc.Err(); err != nil {
		return fmt.Errorf("failed to read input after line %d: %w", n, err)
	}
	if err := flush(); err != nil {
		return err
	}
	return errors.New("the export ends without its trailer line (truncated?): the records were imported, the tail, trim point and fencing token were not set")
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
