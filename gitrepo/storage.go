package gitrepo

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// diskStorage is what go-git's filesystem storage offers of what go-git
// looks for in a storage: the storer itself, the writing of a fetched
// pack whole, the delta objects a push sends, loose and packed objects,
// and the lookup of abbreviated hashes.
type diskStorage interface {
	storage.Storer
	storer.PackfileWriter
	storer.DeltaObjectStorer
	storer.LooseObjectStorer
	storer.PackedObjectStorer
	HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error)
}

var (
	_ diskStorage = (*filesystem.Storage)(nil)
	_ diskStorage = (*lockedStorage)(nil)
)

// lockedStorage makes a go-git filesystem storage safe for concurrent
// use; every Repo reads and writes through one. The commits and trees
// that go-git reads keep the storage they were read from, so reading
// through them later takes the locks too.
type lockedStorage struct {
	s diskStorage
	// objects serialises every use of the object storage. Reads write
	// too: the storage fills its index of the packs, and the names of
	// the directories it looks in, on first use, and a fetched pack is
	// added to that index when its writer closes.
	objects sync.Mutex
	// files orders reads of the refs, the config, the shallow list and
	// the index after their writes: go-git rewrites such a file in
	// place, emptying it before it writes it, and a ref read in between
	// would read as absent.
	files sync.RWMutex
}

// newLockedStorage returns s made safe for concurrent use. Nothing else
// may use s afterwards.
func newLockedStorage(s diskStorage) *lockedStorage { return &lockedStorage{s: s} }

// NewEncodedObject implements storer.EncodedObjectStorer.
func (l *lockedStorage) NewEncodedObject() plumbing.EncodedObject {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.NewEncodedObject()
}

// SetEncodedObject implements storer.EncodedObjectStorer.
func (l *lockedStorage) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.SetEncodedObject(o)
}

// EncodedObject implements storer.EncodedObjectStorer.
func (l *lockedStorage) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.EncodedObject(t, h)
}

// IterEncodedObjects implements storer.EncodedObjectStorer. The iterator
// reads lazily, so it takes the lock for each object rather than for the
// whole iteration: a callback of ForEach may read the storage.
func (l *lockedStorage) IterEncodedObjects(t plumbing.ObjectType) (storer.EncodedObjectIter, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	iter, err := l.s.IterEncodedObjects(t)
	if err != nil {
		return nil, err
	}
	return &lockedObjectIter{mu: &l.objects, iter: iter}, nil
}

// HasEncodedObject implements storer.EncodedObjectStorer.
func (l *lockedStorage) HasEncodedObject(h plumbing.Hash) error {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.HasEncodedObject(h)
}

// EncodedObjectSize implements storer.EncodedObjectStorer.
func (l *lockedStorage) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.EncodedObjectSize(h)
}

// AddAlternate implements storer.EncodedObjectStorer.
func (l *lockedStorage) AddAlternate(remote string) error {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.AddAlternate(remote)
}

// DeltaObject implements storer.DeltaObjectStorer.
func (l *lockedStorage) DeltaObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.DeltaObject(t, h)
}

// HashesWithPrefix returns the objects whose hashes start with prefix;
// go-git resolves an abbreviated hash with it.
func (l *lockedStorage) HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.HashesWithPrefix(prefix)
}

// PackfileWriter implements storer.PackfileWriter.
func (l *lockedStorage) PackfileWriter() (io.WriteCloser, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	w, err := l.s.PackfileWriter()
	if err != nil {
		return nil, err
	}
	return &lockedPackWriter{mu: &l.objects, w: w}, nil
}

// ForEachObjectHash implements storer.LooseObjectStorer. The hashes are
// listed with the lock held and given to fun without it, so that fun may
// use the storage, as go-git's Prune does.
func (l *lockedStorage) ForEachObjectHash(fun func(plumbing.Hash) error) error {
	var hashes []plumbing.Hash
	l.objects.Lock()
	err := l.s.ForEachObjectHash(func(h plumbing.Hash) error {
		hashes = append(hashes, h)
		return nil
	})
	l.objects.Unlock()
	if err != nil {
		return err
	}
	for _, h := range hashes {
		if err := fun(h); errors.Is(err, storer.ErrStop) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

// LooseObjectTime implements storer.LooseObjectStorer.
func (l *lockedStorage) LooseObjectTime(h plumbing.Hash) (time.Time, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.LooseObjectTime(h)
}

// DeleteLooseObject implements storer.LooseObjectStorer.
func (l *lockedStorage) DeleteLooseObject(h plumbing.Hash) error {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.DeleteLooseObject(h)
}

// ObjectPacks implements storer.PackedObjectStorer.
func (l *lockedStorage) ObjectPacks() ([]plumbing.Hash, error) {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.ObjectPacks()
}

// DeleteOldObjectPackAndIndex implements storer.PackedObjectStorer.
func (l *lockedStorage) DeleteOldObjectPackAndIndex(h plumbing.Hash, t time.Time) error {
	l.objects.Lock()
	defer l.objects.Unlock()
	return l.s.DeleteOldObjectPackAndIndex(h, t)
}

// SetReference implements storer.ReferenceStorer.
func (l *lockedStorage) SetReference(ref *plumbing.Reference) error {
	l.files.Lock()
	defer l.files.Unlock()
	return l.s.SetReference(ref)
}

// CheckAndSetReference implements storer.ReferenceStorer.
func (l *lockedStorage) CheckAndSetReference(ref, old *plumbing.Reference) error {
	l.files.Lock()
	defer l.files.Unlock()
	return l.s.CheckAndSetReference(ref, old)
}

// Reference implements storer.ReferenceStorer.
func (l *lockedStorage) Reference(name plumbing.ReferenceName) (*plumbing.Reference, error) {
	l.files.RLock()
	defer l.files.RUnlock()
	return l.s.Reference(name)
}

// IterReferences implements storer.ReferenceStorer. go-git's filesystem
// storage reads every ref before it returns the iterator.
func (l *lockedStorage) IterReferences() (storer.ReferenceIter, error) {
	l.files.RLock()
	defer l.files.RUnlock()
	return l.s.IterReferences()
}

// RemoveReference implements storer.ReferenceStorer.
func (l *lockedStorage) RemoveReference(name plumbing.ReferenceName) error {
	l.files.Lock()
	defer l.files.Unlock()
	return l.s.RemoveReference(name)
}

// CountLooseRefs implements storer.ReferenceStorer.
func (l *lockedStorage) CountLooseRefs() (int, error) {
	l.files.RLock()
	defer l.files.RUnlock()
	return l.s.CountLooseRefs()
}

// PackRefs implements storer.ReferenceStorer.
func (l *lockedStorage) PackRefs() error {
	l.files.Lock()
	defer l.files.Unlock()
	return l.s.PackRefs()
}

// SetShallow implements storer.ShallowStorer.
func (l *lockedStorage) SetShallow(commits []plumbing.Hash) error {
	l.files.Lock()
	defer l.files.Unlock()
	return l.s.SetShallow(commits)
}

// Shallow implements storer.ShallowStorer.
func (l *lockedStorage) Shallow() ([]plumbing.Hash, error) {
	l.files.RLock()
	defer l.files.RUnlock()
	return l.s.Shallow()
}

// SetIndex implements storer.IndexStorer.
func (l *lockedStorage) SetIndex(idx *index.Index) error {
	l.files.Lock()
	defer l.files.Unlock()
	return l.s.SetIndex(idx)
}

// Index implements storer.IndexStorer.
func (l *lockedStorage) Index() (*index.Index, error) {
	l.files.RLock()
	defer l.files.RUnlock()
	return l.s.Index()
}

// Config implements config.ConfigStorer.
func (l *lockedStorage) Config() (*config.Config, error) {
	l.files.RLock()
	defer l.files.RUnlock()
	return l.s.Config()
}

// SetConfig implements config.ConfigStorer.
func (l *lockedStorage) SetConfig(c *config.Config) error {
	l.files.Lock()
	defer l.files.Unlock()
	return l.s.SetConfig(c)
}

// Module implements storage.ModuleStorer. The storage of a submodule is
// a new one at every call, not shared.
func (l *lockedStorage) Module(name string) (storage.Storer, error) { return l.s.Module(name) }

// lockedObjectIter reads each object of an iteration with the lock held.
type lockedObjectIter struct {
	mu   *sync.Mutex
	iter storer.EncodedObjectIter
}

// Next implements storer.EncodedObjectIter.
func (it *lockedObjectIter) Next() (plumbing.EncodedObject, error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.iter.Next()
}

// ForEach implements storer.EncodedObjectIter; cb is called without the
// lock.
func (it *lockedObjectIter) ForEach(cb func(plumbing.EncodedObject) error) error {
	return storer.ForEachIterator(it, cb)
}

// Close implements storer.EncodedObjectIter.
func (it *lockedObjectIter) Close() {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.iter.Close()
}

// lockedPackWriter writes a fetched pack without the lock and closes it
// with the lock held. go-git writes the pack to a temporary file of its
// own, which no reader looks at, and indexes it as it comes; Close moves
// the pack into place and adds its index to the storage's, which readers
// use. Holding the lock while the pack comes would hold up every read for
// as long as the remote takes to send it.
type lockedPackWriter struct {
	mu *sync.Mutex
	w  io.WriteCloser
}

// Write implements io.Writer.
func (w *lockedPackWriter) Write(p []byte) (int, error) { return w.w.Write(p) }

// Close implements io.Closer.
func (w *lockedPackWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Close()
}
