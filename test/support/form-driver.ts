/**
 * Drives Gatehouse's hosted pages with plain HTTP, as a browser without JavaScript would: follows
 * redirects, keeps cookies, fills and posts forms. For protocol tests; the browser tests use Chromium.
 */
export class FormDriver {
  private cookies = new Map<string, string>();
  lastPage = '';
  lastUrl = '';

  constructor(private readonly origin: string) {}

  private remember(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(header)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** Another tab of the same browser, on the same page: for requests a person (or an attacker) sends at once. */
  fork(): FormDriver {
    const tab = new FormDriver(this.origin);
    tab.cookies = new Map(this.cookies);
    tab.lastPage = this.lastPage;
    tab.lastUrl = this.lastUrl;
    return tab;
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Follows redirects within Gatehouse; returns the first URL outside it (the app's callback), or undefined when a page is shown. */
  async go(url: string, init: RequestInit = {}): Promise<URL | undefined> {
    let next: string | undefined = url;
    let request: RequestInit = init;
    for (let hops = 0; next && hops < 20; hops++) {
      const target: URL = new URL(next, this.origin);
      if (target.origin !== this.origin) return target;
      const response: Response = await fetch(target, { ...request, redirect: 'manual', headers: { ...(request.headers ?? {}), cookie: this.cookieHeader() } });
      this.remember(response);
      request = {};
      const location: string | null = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        next = new URL(location, target).toString();
        continue;
      }
      this.lastUrl = target.toString();
      this.lastPage = await response.text();
      if (response.status >= 400) throw new PageError(response.status, this.lastPage);
      return undefined;
    }
    throw new Error('too many redirects');
  }

  /** Posts the page's form (the first one, or the one whose action ends with `action`). */
  async submit(fields: Record<string, string>, action?: string): Promise<URL | undefined> {
    const forms = [...this.lastPage.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = action ? forms.find((f) => f[1]!.endsWith(action)) : forms[0];
    if (!form) throw new Error(`no form on page ${this.lastUrl}:\n${this.lastPage.slice(0, 500)}`);
    const hidden = Object.fromEntries([...form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    return this.go(new URL(form[1]!.replace(/&amp;/g, '&'), this.lastUrl).toString(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...hidden, ...fields }).toString(),
    });
  }
}

export class PageError extends Error {
  constructor(
    readonly status: number,
    readonly page: string,
  ) {
    super(`page answered ${status}: ${page.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
  }
}
