package auth

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
)

// Operation is one value of the openapi Operation enum, in its kebab-case
// wire form.
type Operation string

// The values of the openapi Operation enum, in enum order.
const (
	OpListBasins        Operation = "list-basins"
	OpCreateBasin       Operation = "create-basin"
	OpDeleteBasin       Operation = "delete-basin"
	OpReconfigureBasin  Operation = "reconfigure-basin"
	OpGetBasinConfig    Operation = "get-basin-config"
	OpIssueAccessToken  Operation = "issue-access-token"
	OpRevokeAccessToken Operation = "revoke-access-token"
	OpListAccessTokens  Operation = "list-access-tokens"
	OpListStreams       Operation = "list-streams"
	OpCreateStream      Operation = "create-stream"
	OpDeleteStream      Operation = "delete-stream"
	OpGetStreamConfig   Operation = "get-stream-config"
	OpReconfigureStream Operation = "reconfigure-stream"
	OpCheckTail         Operation = "check-tail"
	OpAppend            Operation = "append"
	OpRead              Operation = "read"
	OpTrim              Operation = "trim"
	OpFence             Operation = "fence"
	OpAccountMetrics    Operation = "account-metrics"
	OpBasinMetrics      Operation = "basin-metrics"
	OpStreamMetrics     Operation = "stream-metrics"

	// The cloud service's enum (s2-streamstore/s2 api/src/v1/access.rs and
	// the SDKs) also has the location operations, which the openapi file of
	// this repository predates. They are accepted so that a scope naming
	// them decodes as it does in the cloud.
	OpListLocations      Operation = "list-locations"
	OpGetDefaultLocation Operation = "get-default-location"
	OpSetDefaultLocation Operation = "set-default-location"
)

// Group is an operation group level of PermittedOperationGroups.
type Group int

const (
	GroupAccount Group = iota
	GroupBasin
	GroupStream
)

func (g Group) String() string {
	switch g {
	case GroupAccount:
		return "account"
	case GroupBasin:
		return "basin"
	case GroupStream:
		return "stream"
	}
	return fmt.Sprintf("Group(%d)", int(g))
}

// Access is the read or write half of a group.
type Access int

const (
	Read Access = iota
	Write
)

func (a Access) String() string {
	if a == Read {
		return "read"
	}
	return "write"
}

// ResourceKind says which resource set of a scope an operation is checked
// against.
type ResourceKind int

const (
	// ResourceAccount: no resource check (list-basins, list-access-tokens,
	// account-metrics, locations). Listings are filtered instead, see
	// Scope.BasinVisible and Scope.TokenVisible.
	ResourceAccount ResourceKind = iota
	// ResourceBasin: the basin must be in the basins set.
	ResourceBasin
	// ResourceStream: the basin must be in the basins set and the stream in
	// the streams set.
	ResourceStream
	// ResourceAccessToken: the token id must be in the access_tokens set.
	ResourceAccessToken
)

func (k ResourceKind) String() string {
	switch k {
	case ResourceAccount:
		return "account"
	case ResourceBasin:
		return "basin"
	case ResourceStream:
		return "stream"
	case ResourceAccessToken:
		return "access-token"
	}
	return fmt.Sprintf("ResourceKind(%d)", int(k))
}

type opInfo struct {
	op       Operation
	group    Group
	access   Access
	resource ResourceKind
}

// opTable is the single source of the op-group mapping and of the resource
// kind of each operation; its order is the enum order. See doc.go for where
// the grouping comes from.
var opTable = [...]opInfo{
	{OpListBasins, GroupAccount, Read, ResourceAccount},
	{OpCreateBasin, GroupAccount, Write, ResourceBasin},
	{OpDeleteBasin, GroupAccount, Write, ResourceBasin},
	{OpReconfigureBasin, GroupAccount, Write, ResourceBasin},
	{OpGetBasinConfig, GroupBasin, Read, ResourceBasin},
	{OpIssueAccessToken, GroupAccount, Write, ResourceAccessToken},
	{OpRevokeAccessToken, GroupAccount, Write, ResourceAccessToken},
	{OpListAccessTokens, GroupAccount, Read, ResourceAccount},
	{OpListStreams, GroupBasin, Read, ResourceBasin},
	{OpCreateStream, GroupBasin, Write, ResourceStream},
	{OpDeleteStream, GroupBasin, Write, ResourceStream},
	{OpGetStreamConfig, GroupStream, Read, ResourceStream},
	{OpReconfigureStream, GroupBasin, Write, ResourceStream},
	{OpCheckTail, GroupStream, Read, ResourceStream},
	{OpAppend, GroupStream, Write, ResourceStream},
	{OpRead, GroupStream, Read, ResourceStream},
	{OpTrim, GroupStream, Write, ResourceStream},
	{OpFence, GroupStream, Write, ResourceStream},
	{OpAccountMetrics, GroupAccount, Read, ResourceAccount},
	{OpBasinMetrics, GroupBasin, Read, ResourceBasin},
	{OpStreamMetrics, GroupStream, Read, ResourceStream},
	{OpListLocations, GroupAccount, Read, ResourceAccount},
	{OpGetDefaultLocation, GroupAccount, Read, ResourceAccount},
	{OpSetDefaultLocation, GroupAccount, Write, ResourceAccount},
}

var opIndex = func() map[Operation]int {
	m := make(map[Operation]int, len(opTable))
	for i, e := range opTable {
		m[e.op] = i
	}
	return m
}()

// AllOperations returns every known operation in enum order.
func AllOperations() []Operation {
	ops := make([]Operation, len(opTable))
	for i, e := range opTable {
		ops[i] = e.op
	}
	return ops
}

// ParseOperation returns the operation with this wire name.
func ParseOperation(s string) (Operation, bool) {
	_, ok := opIndex[Operation(s)]
	return Operation(s), ok
}

// Valid reports whether o is a known operation.
func (o Operation) Valid() bool {
	_, ok := opIndex[o]
	return ok
}

// Group returns the operation group and the half of it that grants o. It
// panics on an unknown operation.
func (o Operation) Group() (Group, Access) {
	e := opTable[o.index()]
	return e.group, e.access
}

// Resource returns the kind of resource o is checked against.
func (o Operation) Resource() ResourceKind {
	return opTable[o.index()].resource
}

func (o Operation) index() int {
	i, ok := opIndex[o]
	if !ok {
		panic(fmt.Sprintf("auth: unknown operation %q", string(o)))
	}
	return i
}

// UnmarshalJSON accepts only the known operation names; anything else is
// a JSON body problem (400 bad_json), as in the cloud where the enum is
// checked while decoding.
func (o *Operation) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("operation: %w", err)
	}
	op, ok := ParseOperation(s)
	if !ok {
		return fmt.Errorf("unknown operation %q", s)
	}
	*o = op
	return nil
}

// OpSet is a set of operations.
type OpSet uint32

// AllOps is the set of every known operation.
var AllOps = func() OpSet {
	var s OpSet
	for i := range opTable {
		s |= 1 << i
	}
	return s
}()

// OpsOf returns the set of the given operations; unknown ones are ignored.
func OpsOf(ops ...Operation) OpSet {
	var s OpSet
	for _, op := range ops {
		if i, ok := opIndex[op]; ok {
			s |= 1 << i
		}
	}
	return s
}

// Has reports whether op is in the set.
func (s OpSet) Has(op Operation) bool {
	i, ok := opIndex[op]
	return ok && s&(1<<i) != 0
}

// Contains reports whether every operation of t is in s.
func (s OpSet) Contains(t OpSet) bool { return t&^s == 0 }

// Len is the number of operations in the set.
func (s OpSet) Len() int { return bits.OnesCount32(uint32(s)) }

// Slice returns the operations of the set in enum order.
func (s OpSet) Slice() []Operation {
	ops := make([]Operation, 0, s.Len())
	for i, e := range opTable {
		if s&(1<<i) != 0 {
			ops = append(ops, e.op)
		}
	}
	return ops
}

func (s OpSet) String() string {
	ops := s.Slice()
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = string(op)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// GroupOps returns the operations granted by one half of one group.
func GroupOps(g Group, a Access) OpSet {
	var s OpSet
	for i, e := range opTable {
		if e.group == g && e.access == a {
			s |= 1 << i
		}
	}
	return s
}
