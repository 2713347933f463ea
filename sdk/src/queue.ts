// The queues behind messages() and inboxItems() iterators.

import type { Message } from "./types.js";

/** Owner is what a queue tells about its length: the client, which holds the connection when one falls behind. */
export interface Owner {
  readonly queueLimit: number;
  pressure(): void;
  forgetQueue(q: MessageQueue): void;
}

/** MessageQueue is one messages() iterator: a queue the client pushes to. */
export class MessageQueue implements AsyncIterableIterator<Message> {
  private items: Message[] = [];
  private head = 0;
  private waiting: ((r: IteratorResult<Message>) => void) | undefined;
  private done = false;

  constructor(
    private readonly client: Owner,
    signal?: AbortSignal,
  ) {
    signal?.addEventListener("abort", () => this.end(), { once: true });
    if (signal?.aborted) this.done = true;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(m: Message): void {
    if (this.done) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: m, done: false });
      return;
    }
    this.items.push(m);
    if (this.size >= this.client.queueLimit) this.client.pressure();
  }

  next(): Promise<IteratorResult<Message>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (this.size <= this.client.queueLimit / 2) this.client.pressure();
      return Promise.resolve({ value, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<Message>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  end(): void {
    this.done = true;
    this.items = [];
    this.head = 0;
    this.client.forgetQueue(this);
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this;
  }
}

/**
 * ItemQueue is one inboxItems() iterator: it holds at most limit unread
 * items and drops newer ones (calling dropped), since the inbox, not the
 * iterator, is the record.
 */
export class ItemQueue<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private done = false;

  constructor(
    private readonly limit: number,
    private readonly dropped: (item: T) => void,
    private readonly forget: (q: ItemQueue<T>) => void,
    signal?: AbortSignal,
  ) {
    signal?.addEventListener("abort", () => this.end(), { once: true });
    if (signal?.aborted) this.done = true;
  }

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.done) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: item, done: false });
      return;
    }
    if (this.items.length >= this.limit) return this.dropped(item);
    this.items.push(item);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  end(): void {
    this.done = true;
    this.items = [];
    this.forget(this);
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
