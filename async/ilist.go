package async

// An intrusive doubly linked list, for the I/O side's queue of exchanges
// and each exchange's waiting legs (io.go): an element holds its own links,
// so that pushing allocates nothing and one in the middle (a waiter that
// leaves, an exchange whose waiters all left) is taken out at once.

// ilinks are the links an element of an ilist holds.
type ilinks[T any] struct{ prev, next *T }

// linked is a pointer to an element that holds its own ilinks.
type linked[T any] interface {
	*T
	links() *ilinks[T]
}

// ilist is an intrusive doubly linked FIFO, so that an element in the
// middle (a waiter that leaves, an exchange whose waiters all left) is
// taken out at once.
type ilist[T any, P linked[T]] struct{ head, tail P }

func (l *ilist[T, P]) push(e P) {
	*e.links() = ilinks[T]{prev: l.tail}
	if l.tail != nil {
		l.tail.links().next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *ilist[T, P]) pop() P {
	e := l.head
	if e != nil {
		l.remove(e)
	}
	return e
}

func (l *ilist[T, P]) remove(e P) {
	k := e.links()
	if k.prev != nil {
		P(k.prev).links().next = k.next
	} else {
		l.head = k.next
	}
	if k.next != nil {
		P(k.next).links().prev = k.prev
	} else {
		l.tail = k.prev
	}
	*k = ilinks[T]{}
}
