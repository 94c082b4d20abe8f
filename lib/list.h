// Circular doubly linked list with a sentinel head, as in Linux's list.h.
#ifndef LIST_H
#define LIST_H

#include <stddef.h>

struct list_head {
    struct list_head *next, *prev;
};

#define LIST_HEAD_INIT(name)                                                                       \
    {                                                                                              \
        &(name), &(name)                                                                           \
    }
#define container_of(ptr, type, member)      ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_entry(ptr, type, member)        container_of(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)

static inline void INIT_LIST_HEAD(struct list_head *h)
{
    h->next = h;
    h->prev = h;
}

static inline void __list_add(struct list_head *n, struct list_head *prev, struct list_head *next)
{
    next->prev = n;
    n->next = next;
    n->prev = prev;
    prev->next = n;
}

static inline void list_add(struct list_head *n, struct list_head *head)
{
    __list_add(n, head, head->next);
}

static inline void list_add_tail(struct list_head *n, struct list_head *head)
{
    __list_add(n, head->prev, head);
}

static inline void list_del(struct list_head *e)
{
    e->next->prev = e->prev;
    e->prev->next = e->next;
    e->next = e->prev = e; // a deleted entry is an empty list: safe to test or delete again
}

static inline void list_move(struct list_head *e, struct list_head *head)
{
    list_del(e);
    list_add(e, head);
}

static inline void list_move_tail(struct list_head *e, struct list_head *head)
{
    list_del(e);
    list_add_tail(e, head);
}

static inline int list_empty(const struct list_head *h)
{
    return h->next == h;
}

#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define list_for_each_safe(pos, n, head)                                                           \
    for (pos = (head)->next, n = pos->next; pos != (head); pos = n, n = pos->next)

#endif
