package server

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The s2.v1 messages of API 11, described independently of proto.go so
// that the tests check the hand-written wire encoding against the real
// protobuf runtime (dynamicpb).

type pbField struct {
	name     string
	num      int32
	typ      descriptorpb.FieldDescriptorProto_Type
	repeated bool
	optional bool   // proto3 optional (explicit presence)
	msg      string // message type name, for TYPE_MESSAGE
}

func s2Schema(t testing.TB) protoreflect.FileDescriptor {
	t.Helper()
	const (
		u64   = descriptorpb.FieldDescriptorProto_TYPE_UINT64
		bytes = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		str   = descriptorpb.FieldDescriptorProto_TYPE_STRING
		msg   = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	messages := []struct {
		name   string
		fields []pbField
	}{
		{"StreamPosition", []pbField{{name: "seq_num", num: 1, typ: u64}, {name: "timestamp", num: 2, typ: u64}}},
		{"Header", []pbField{{name: "name", num: 1, typ: bytes}, {name: "value", num: 2, typ: bytes}}},
		{"AppendRecord", []pbField{
			{name: "timestamp", num: 1, typ: u64, optional: true},
			{name: "headers", num: 2, typ: msg, repeated: true, msg: ".s2.v1.Header"},
			{name: "body", num: 3, typ: bytes},
		}},
		{"AppendInput", []pbField{
			{name: "records", num: 1, typ: msg, repeated: true, msg: ".s2.v1.AppendRecord"},
			{name: "match_seq_num", num: 2, typ: u64, optional: true},
			{name: "fencing_token", num: 3, typ: str, optional: true},
		}},
		{"AppendAck", []pbField{
			{name: "start", num: 1, typ: msg, msg: ".s2.v1.StreamPosition"},
			{name: "end", num: 2, typ: msg, msg: ".s2.v1.StreamPosition"},
			{name: "tail", num: 3, typ: msg, msg: ".s2.v1.StreamPosition"},
		}},
		{"SequencedRecord", []pbField{
			{name: "seq_num", num: 1, typ: u64},
			{name: "timestamp", num: 2, typ: u64},
			{name: "headers", num: 3, typ: msg, repeated: true, msg: ".s2.v1.Header"},
			{name: "body", num: 4, typ: bytes},
		}},
		{"ReadBatch", []pbField{
			{name: "records", num: 1, typ: msg, repeated: true, msg: ".s2.v1.SequencedRecord"},
			{name: "tail", num: 2, typ: msg, optional: true, msg: ".s2.v1.StreamPosition"},
		}},
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("s2/v1/s2_test.proto"),
		Package: proto.String("s2.v1"),
		Syntax:  proto.String("proto3"),
	}
	for _, m := range messages {
		dp := &descriptorpb.DescriptorProto{Name: proto.String(m.name)}
		for _, f := range m.fields {
			label := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
			if f.repeated {
				label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
			}
			fp := &descriptorpb.FieldDescriptorProto{
				Name:     proto.String(f.name),
				Number:   proto.Int32(f.num),
				Type:     f.typ.Enum(),
				Label:    label.Enum(),
				JsonName: proto.String(f.name),
			}
			if f.msg != "" {
				fp.TypeName = proto.String(f.msg)
			}
			if f.optional {
				fp.Proto3Optional = proto.Bool(true)
				fp.OneofIndex = proto.Int32(int32(len(dp.OneofDecl)))
				dp.OneofDecl = append(dp.OneofDecl, &descriptorpb.OneofDescriptorProto{Name: proto.String("_" + f.name)})
			}
			dp.Field = append(dp.Field, fp)
		}
		fd.MessageType = append(fd.MessageType, dp)
	}
	file, err := protodesc.NewFile(fd, nil)
	if err != nil {
		t.Fatalf("building the s2.v1 descriptor: %v", err)
	}
	return file
}

// pbMessage is a dynamic s2.v1 message with terse accessors for tests.
type pbMessage struct{ *dynamicpb.Message }

func newPB(t testing.TB, name string) pbMessage {
	t.Helper()
	md := s2Schema(t).Messages().ByName(protoreflect.Name(name))
	if md == nil {
		t.Fatalf("no message %s", name)
	}
	return pbMessage{dynamicpb.NewMessage(md)}
}

func (m pbMessage) field(name string) protoreflect.FieldDescriptor {
	return m.Descriptor().Fields().ByName(protoreflect.Name(name))
}

func (m pbMessage) setU64(name string, v uint64) pbMessage {
	m.Set(m.field(name), protoreflect.ValueOfUint64(v))
	return m
}

func (m pbMessage) setBytes(name string, v []byte) pbMessage {
	m.Set(m.field(name), protoreflect.ValueOfBytes(v))
	return m
}

func (m pbMessage) setString(name, v string) pbMessage {
	m.Set(m.field(name), protoreflect.ValueOfString(v))
	return m
}

func (m pbMessage) add(name string, v pbMessage) pbMessage {
	m.Mutable(m.field(name)).List().Append(protoreflect.ValueOfMessage(v.Message))
	return m
}

func (m pbMessage) u64(name string) uint64 { return m.Get(m.field(name)).Uint() }

func (m pbMessage) bytes(name string) []byte { return m.Get(m.field(name)).Bytes() }

func (m pbMessage) has(name string) bool { return m.Has(m.field(name)) }

func (m pbMessage) sub(name string) pbMessage {
	return pbMessage{m.Get(m.field(name)).Message().Interface().(*dynamicpb.Message)}
}

func (m pbMessage) list(name string) []pbMessage {
	l := m.Get(m.field(name)).List()
	out := make([]pbMessage, l.Len())
	for i := range out {
		out[i] = pbMessage{l.Get(i).Message().Interface().(*dynamicpb.Message)}
	}
	return out
}

func (m pbMessage) marshal(t testing.TB) []byte {
	t.Helper()
	b, err := proto.Marshal(m.Message)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unmarshalPB(t testing.TB, name string, b []byte) pbMessage {
	t.Helper()
	m := newPB(t, name)
	if err := proto.Unmarshal(b, m.Message); err != nil {
		t.Fatalf("unmarshal %s: %v", name, err)
	}
	return m
}

// pbRecord builds an AppendRecord; ts < 0 leaves the timestamp absent.
func pbRecord(t testing.TB, ts int64, body []byte, headers ...[2][]byte) pbMessage {
	r := newPB(t, "AppendRecord").setBytes("body", body)
	if ts >= 0 {
		r.setU64("timestamp", uint64(ts))
	}
	for _, h := range headers {
		r.add("headers", newPB(t, "Header").setBytes("name", h[0]).setBytes("value", h[1]))
	}
	return r
}

// pbInput builds an AppendInput of records.
func pbInput(t testing.TB, recs ...pbMessage) pbMessage {
	in := newPB(t, "AppendInput")
	for _, r := range recs {
		in.add("records", r)
	}
	return in
}

// pbBodies returns the bodies of a ReadBatch's records.
func pbBodies(b pbMessage) []string {
	var out []string
	for _, r := range b.list("records") {
		out = append(out, string(r.bytes("body")))
	}
	return out
}
