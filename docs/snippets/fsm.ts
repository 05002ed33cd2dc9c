// Type-checked code of docs/fsm.md.
import {
  defineMachine,
  InvalidTransitionError,
  TransitionGuardRejectedError,
  type Clock,
  type MachineSnapshot,
  type NamedGuard,
} from 'potter';

// --- defining a machine -------------------------------------------------------------------------

/** The states of an order. */
export type OrderState = 'pending' | 'paid' | 'shipped' | 'delivered' | 'cancelled';

/** The events an order accepts, with their payloads (`undefined`: no payload). */
export type OrderEvents = {
  pay: { amount: number };
  ship: { carrier: string };
  deliver: undefined;
  cancel: { reason: string };
};

/** The data an order carries along. */
export interface OrderContext {
  total: number;
  paid: number;
  carrier?: string;
  cancelReason?: string;
  log: string[];
}

/** A named guard: its name is drawn on the diagram and reported when it refuses. */
const fullyPaid: NamedGuard<OrderState, OrderEvents, OrderContext, 'pay'> = {
  name: 'fullyPaid',
  check: ({ context, event }) => context.paid + event.payload.amount >= context.total,
};

export const orderMachine = defineMachine<OrderState, OrderEvents, OrderContext>({
  id: 'order',
  initial: 'pending',
  context: () => ({ total: 100, paid: 0, log: [] }),
  states: {
    pending: {
      on: {
        // Candidates are tried in order: the first whose guard allows it wins.
        pay: [
          {
            target: 'paid',
            guard: fullyPaid,
            action: ({ context, event }) => {
              context.paid += event.payload.amount;
            },
          },
          {
            action: ({ context, event }) => {
              context.paid += event.payload.amount;
            },
          }, // internal: stays pending
        ],
        cancel: {
          target: 'cancelled',
          action: ({ context, event }) => {
            context.cancelReason = event.payload.reason;
          },
        },
      },
      onExit: ({ context, event }) => {
        context.log.push(`leaving pending on ${event.type}`);
      },
    },
    paid: {
      on: {
        ship: {
          target: 'shipped',
          action: ({ context, event }) => {
            context.carrier = event.payload.carrier;
          },
        },
        cancel: { target: 'cancelled' },
      },
      onEnter: async ({ context }) => {
        await Promise.resolve(); // e.g. send a receipt
        context.log.push('receipt sent');
      },
    },
    shipped: { on: { deliver: { target: 'delivered' } } },
    delivered: { final: true },
    cancelled: { final: true },
  },
});

// --- running it ---------------------------------------------------------------------------------

export async function runOrder(
  clock: Clock,
): Promise<MachineSnapshot<OrderState, keyof OrderEvents, OrderContext>> {
  const order = orderMachine.create({ clock });
  await order.send('pay', { amount: 40 }); // internal transition: still pending, paid = 40
  await order.send('pay', { amount: 60 }); // fullyPaid allows it: paid
  await order.send('ship', { carrier: 'UPS' });
  try {
    await order.send('pay', { amount: 1 });
  } catch (error) {
    if (error instanceof InvalidTransitionError) console.log(error.details); // { machine, state: 'shipped', event: 'pay', allowed: ['deliver'] }
  }
  await order.send('deliver');
  console.log(order.state, order.done); // delivered true
  return order.snapshot();
}

// --- guards refuse with their own error ----------------------------------------------------------

/** A small approval machine whose guard refuses amounts above a limit. */
export const approval = defineMachine<'draft' | 'approved', { approve: { amount: number } }>({
  id: 'approval',
  initial: 'draft',
  states: {
    draft: {
      on: {
        approve: {
          target: 'approved',
          guard: function underLimit({ event }) {
            return event.payload.amount <= 1000;
          },
        },
      },
    },
    approved: { final: true },
  },
});

export async function refuse(): Promise<void> {
  const machine = approval.create();
  try {
    await machine.send('approve', { amount: 5000 });
  } catch (error) {
    if (error instanceof TransitionGuardRejectedError) console.log(error.details.guards); // ['underLimit']
  }
  console.log(machine.state); // still 'draft'
}

// --- snapshots ----------------------------------------------------------------------------------

export async function saveAndRestore(): Promise<void> {
  const order = orderMachine.create();
  await order.send('pay', { amount: 100 });
  const json = JSON.stringify(order.snapshot()); // or JSON.stringify(order)
  const again = orderMachine.restore(JSON.parse(json));
  console.log(again.state, again.version, again.context.paid); // paid 1 100
}

// --- raising an event from an action ------------------------------------------------------------

/** A machine whose `checking` state decides on its own where to go next. */
export const review = defineMachine<
  'idle' | 'checking' | 'accepted' | 'rejected',
  {
    submit: { score: number };
    accept: undefined;
    reject: undefined;
  }
>({
  id: 'review',
  initial: 'idle',
  states: {
    idle: { on: { submit: { target: 'checking' } } },
    checking: {
      // `raise` queues the event right after this transition; `send('submit')` settles after both.
      onEnter: ({ event, raise }) => {
        if (event.type === 'submit') raise(event.payload.score >= 5 ? 'accept' : 'reject');
      },
      on: { accept: { target: 'accepted' }, reject: { target: 'rejected' } },
    },
    accepted: { final: true },
    rejected: { final: true },
  },
});
