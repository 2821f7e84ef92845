package repository

import (
	"sync"

	"golang.org/x/sys/unix"
)

// fdCache bounds the descriptors a restore keeps open for directories and partly written files.
// An entry is pinned while it is used; unpinned open entries wait in least-recently-used order
// and the oldest are closed when more than max are open. A closed entry is opened again on its
// next use (a directory from its parent, a file by its temporary name).
type fdCache struct {
	mu         sync.Mutex
	max        int
	open       int
	head, tail *fdEntry // unpinned open entries, most recently used first
}

// fdEntry is one descriptor in an fdCache. Its fd is -1 while closed.
type fdEntry struct {
	opening    sync.Mutex // held while opening, so that one user opens and the others wait
	fd         int        // guarded by fdCache.mu; stable while pinned and open
	pins       int32      // guarded by fdCache.mu
	prev, next *fdEntry   // guarded by fdCache.mu
	listed     bool       // in the LRU list
	gone       bool       // taken: never to be opened or listed again
}

// acquire pins e and returns its descriptor, calling open when it is closed. The caller calls
// release when done.
func (c *fdCache) acquire(e *fdEntry, open func() (int, error)) (int, error) {
	c.mu.Lock()
	e.pins++
	if e.listed {
		c.unlink(e)
	}
	fd := e.fd
	c.mu.Unlock()
	if fd >= 0 {
		return fd, nil
	}
	e.opening.Lock()
	defer e.opening.Unlock()
	c.mu.Lock()
	fd = e.fd
	c.mu.Unlock()
	if fd >= 0 {
		return fd, nil
	}
	fd, err := open()
	if err != nil {
		c.release(e)
		return -1, err
	}
	c.mu.Lock()
	e.fd = fd
	c.open++
	victims := c.evict()
	c.mu.Unlock()
	closeAll(victims...)
	return fd, nil
}

// release unpins e.
func (c *fdCache) release(e *fdEntry) {
	c.mu.Lock()
	e.pins--
	if e.pins == 0 && e.fd >= 0 && !e.gone {
		c.pushFront(e)
	}
	victims := c.evict()
	c.mu.Unlock()
	closeAll(victims...)
}

// take removes e's descriptor from the cache for good and returns it (-1 if it was closed); the
// caller closes it.
func (c *fdCache) take(e *fdEntry) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.listed {
		c.unlink(e)
	}
	e.gone = true
	fd := e.fd
	e.fd = -1
	if fd >= 0 {
		c.open--
	}
	return fd
}

// evict detaches the least recently used unpinned descriptors while more than max are open and
// returns them for closing outside the lock; c.mu is held.
func (c *fdCache) evict() []int {
	var victims []int
	for c.open > c.max && c.tail != nil {
		e := c.tail
		c.unlink(e)
		victims = append(victims, e.fd)
		e.fd = -1
		c.open--
	}
	return victims
}

func (c *fdCache) pushFront(e *fdEntry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
	e.listed = true
}

func (c *fdCache) unlink(e *fdEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next, e.listed = nil, nil, false
}

func closeAll(fds ...int) {
	for _, fd := range fds {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
}

// fileArena holds a restore's files in pages that never move, so that they can be referred to by
// address while the arena grows; only the planner adds to it.
type fileArena struct {
	pages [][]rfile
	n     int
}

const filePage = 1024

// add appends a zero file and returns its address.
func (a *fileArena) add() *rfile {
	if a.n%filePage == 0 {
		a.pages = append(a.pages, make([]rfile, filePage))
	}
	f := &a.pages[a.n/filePage][a.n%filePage]
	a.n++
	return f
}

// each calls fn for every file; not while the planner adds files.
func (a *fileArena) each(fn func(*rfile)) {
	for i := range a.n {
		fn(&a.pages[i/filePage][i%filePage])
	}
}
