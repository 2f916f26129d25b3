// Page-side state of the offline app's updates: whether a new version's service worker is installed and waiting,
// and the call that lets it take over. Main thread; src/main.ts registers the worker and feeds this state.

export class AppUpdate {
  /** A new version is precached and waits for this page's consent (registerType 'prompt' in vite.config.ts). */
  waiting = $state(false);
  /** Set by src/main.ts once the service worker is registered; tells the waiting worker to take over, then reloads. */
  activate: (() => Promise<void>) | null = null;

  async apply(): Promise<void> {
    await this.activate?.();
  }
}
