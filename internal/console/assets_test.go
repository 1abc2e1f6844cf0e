package console

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// Every asset has its hash in assetHashes, the one of its bytes, and
// nothing else has one.
func TestAssetHashesMatchTheFiles(t *testing.T) {
	entries, err := assetFiles.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := assetFiles.ReadFile("assets/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if want := hex.EncodeToString(sum[:6]); assetHashes[e.Name()] != want {
			t.Errorf("assets/%s changed: set its hash in render.go's assetHashes to %q", e.Name(), want)
		}
	}
	if len(assetHashes) != len(entries) {
		t.Errorf("assetHashes names %d assets, there are %d", len(assetHashes), len(entries))
	}
}
