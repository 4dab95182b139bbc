package queue_test

import (
	"errors"
	"fmt"

	"github.com/asyncsspi/asyncsspi/queue"
)

// printTask reports whether it ran or was cancelled.
type printTask struct {
	name string
	out  chan string
}

func (t *printTask) Run()    { t.out <- t.name + " ran" }
func (t *printTask) Cancel() { t.out <- t.name + " cancelled" }

func Example() {
	p := queue.New(queue.WithWorkers(2), queue.WithDepth(4))
	out := make(chan string, 1)
	if err := p.TrySubmit(&printTask{name: "leg", out: out}); err != nil {
		fmt.Println("refused:", err)
	}
	fmt.Println(<-out)
	p.Close()
	err := p.TrySubmit(&printTask{name: "late", out: out})
	fmt.Println(errors.Is(err, queue.ErrClosed))
	// Output:
	// leg ran
	// true
}
