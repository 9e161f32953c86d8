package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Key returns the cluster key, creating it on first use: 32 random bytes,
// hex, at /s2lite/<cluster>/key. Nodes send it on requests between them
// (forwarded requests, routing questions) so that a client cannot pose as
// a node. Anyone who can read etcd can read it: etcd's own access control
// protects it.
func Key(ctx context.Context, cli *clientv3.Client, cluster string) (string, error) {
	if err := checkName("cluster name", cluster); err != nil {
		return "", err
	}
	k := "/s2lite/" + cluster + "/key"
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	fresh := hex.EncodeToString(b[:])
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, fresh)).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return "", fmt.Errorf("cluster: key: %w", err)
	}
	if resp.Succeeded {
		return fresh, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) != 1 || len(kvs[0].Value) == 0 {
		return "", fmt.Errorf("cluster: key %s is empty", k)
	}
	return string(kvs[0].Value), nil
}
