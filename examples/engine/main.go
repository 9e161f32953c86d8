// Command engine is the README's example of the engine used as a library.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/s2lite/s2lite/engine"
	"github.com/s2lite/s2lite/objstore"
)

func main() {
	ctx := context.Background()
	store, err := objstore.NewLocal(os.TempDir() + "/s2lite-example") // or objstore.NewMemory(), or objstore.NewS3(ctx, ...)
	if err != nil {
		log.Fatal(err)
	}
	db, err := engine.Open(ctx, engine.Options{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	b := engine.NewBatch()
	b.Set([]byte("greeting"), []byte("hello"))
	b.SetWithExpiry([]byte("session"), []byte("x"), time.Now().Add(time.Minute))
	b.DeleteRange([]byte("old/"), []byte("old0"))
	if err := db.Write(ctx, b); err != nil { // returns once durable in the store
		log.Fatal(err)
	}

	v, err := db.Get(ctx, []byte("greeting"))
	fmt.Println(string(v), err)

	it, _ := db.NewIter(ctx, &engine.IterOptions{LowerBound: []byte("a"), UpperBound: []byte("z")})
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Printf("%s = %s\n", it.Key(), it.Value())
	}
	it.Close()

	fmt.Printf("%+v\n", db.Metrics())
}
