import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sagaLifecycle } from 'potter';
import { Participants, runOrder } from '../../../docs/snippets/saga';

describe('docs/saga.md', () => {
  const markdown = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'saga.md'), 'utf8');

  it('draws the lifecycle exactly as sagaLifecycle.toMermaid() does', () => {
    const match = /<!-- toMermaid: sagaLifecycle -->\n+```mermaid\n([\s\S]*?)\n```/.exec(markdown);
    expect(match?.[1]).toBe(sagaLifecycle.toMermaid());
  });

  it('the order saga of the snippet completes, with the review skipped under 1,000', async () => {
    const participants = new Participants();
    const state = await runOrder(participants, 120);
    expect(state.status).toBe('completed');
    expect(state.skippedSteps).toEqual(['review']);
    expect(participants.log.slice(0, 2)).toEqual(['reserved o-1', 'charged 120']);
    expect(participants.log.slice(2).sort()).toEqual(['invoice for o-1', 'label for o-1']);
  });

  it('a declined card is not retried and the reservation is released', async () => {
    const participants = new Participants();
    participants.declineAbove = 100;
    const state = await runOrder(participants, 120);
    expect(state.status).toBe('compensated');
    expect(state.attempts['charge']).toBe(1);
    expect(participants.log).toEqual(['reserved o-1', 'released (reserved o-1)']);
  });
});
