/**
 * The SIP front door: a drachtio-srf application connected to drachtio-server. It checks
 * the source network (403) and optional digest credentials (401), answers OPTIONS pings,
 * and hands every INVITE, re-INVITE, UPDATE, CANCEL and BYE to the SIP-free CallRegistry
 * (signaling/sip/), which decides the response and owns the media sessions.
 *
 * Session timers (RFC 4028): drachtio-server runs them from the Session-Expires of our 2xx.
 * Where we are the refresher (refresher=uas) it sends the refreshing re-INVITE with our last
 * SDP at half the interval and, when that fails, sends BYE and reports the dialog ended, so
 * this app sends no refreshes of its own (a second re-INVITE per interval could glare with
 * drachtio-server's, and a 491 on either ends the call). When the SBC is the refresher, the
 * CallRegistry ends an unrefreshed call (BYE via onSessionExpired) before drachtio-server
 * would, min(32 s, interval/3) early as RFC 4028 section 10 asks.
 *
 * drachtio-srf reconnects to drachtio-server by itself with exponential backoff (150 ms
 * x 1.7 per attempt, capped at sip.reconnectMaxMs); `ready` is true only while connected
 * and authenticated, so /readyz reflects it.
 */
import Srf from 'drachtio-srf';
import { ConfigError, type Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { CallRegistry } from './call-registry.js';
import { DigestAuthenticator } from './digest-auth.js';
import { NetworkAcl, NetworkAclError } from './network-acl.js';
import type { MediaAllocator, SipCounters, SipRequestView, SipResponsePlan } from './types.js';

export interface StartSipOptions {
  config: Readonly<Config>;
  /** The process's MediaSessions. */
  media: MediaAllocator;
  log: Logger;
}

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE';
const SUPPORTED = 'timer, siprec';
const ACCEPT = 'application/sdp, multipart/mixed, application/rs-metadata+xml';

/** Adapts a drachtio request to what the plain module reads. */
export function requestView(req: Srf.SrfRequest): SipRequestView {
  return {
    method: req.method,
    callId: req.get('Call-ID') ?? '',
    header: (name: string) => (req.has(name) ? req.get(name) : undefined),
    body: req.body ?? '',
    sourceAddress: req.source_address,
  };
}

function send(res: Srf.SrfResponse, plan: SipResponsePlan, extra: Record<string, string> = {}): void {
  const headers: Record<string, string> = { ...plan.headers, ...extra };
  if (plan.sdp !== undefined) headers['Content-Type'] = 'application/sdp';
  res.send(plan.status, plan.reason, { headers, ...(plan.sdp !== undefined ? { body: plan.sdp } : {}) });
}

/**
 * srf.createUAS through its callback form. drachtio-srf's wire protocol dispatches every
 * message of one TCP read in a synchronous loop, and the callback runs inside that loop (as
 * drachtio-server's "200 sent" reply is handled), so `onDialog` attaches the dialog's listeners
 * before the next message is dispatched. With the promise form they were attached one
 * microtask too late: a BYE that arrived in the same read (a short call, a busy server) was
 * answered 200 by drachtio-srf but its 'destroy' went unheard, and the call kept its ports.
 */
function createUas(srf: Srf, req: Srf.SrfRequest, res: Srf.SrfResponse, opts: Srf.CreateUASOptions,
  onDialog: (dialog: Srf.Dialog) => void): Promise<Srf.Dialog> {
  return new Promise((resolve, reject) => {
    srf.createUAS(req, res, opts, (err: unknown, dialog: Srf.Dialog) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      onDialog(dialog);
      resolve(dialog);
    });
  });
}

interface DialogState {
  dialog: Srf.Dialog;
}

export class SipApp {
  readonly registry: CallRegistry;
  readonly #srf: Srf;
  readonly #log: Logger;
  readonly #acl: NetworkAcl;
  readonly #auth: DigestAuthenticator | undefined;
  readonly #dialogs = new Map<string, DialogState>();
  #ready = false;
  #closing: Promise<void> | undefined;

  private constructor(opts: StartSipOptions) {
    const { config } = opts;
    const sip = config.sip;
    this.#log = opts.log.child({ component: 'sip' });
    try {
      this.#acl = new NetworkAcl(sip.allowedNetworks);
    } catch (err) {
      if (err instanceof NetworkAclError) throw new ConfigError('sip.allowedNetworks', err.message, { cause: err });
      throw err;
    }
    if (sip.allowedNetworks.length === 0) this.#log.warn('sip.allowedNetworks is empty: every INVITE will get 403');
    this.#auth = sip.digestUsername
      ? new DigestAuthenticator({ realm: sip.digestRealm, username: sip.digestUsername, password: sip.digestPassword })
      : undefined;
    this.registry = new CallRegistry({
      media: opts.media,
      policy: sip,
      address: config.media.announceAddress || config.media.bindAddress,
      log: this.#log,
      onSessionExpired: (call) => this.#hangUp(call.callId, 'SIP;cause=408;text="Session timer expired"'),
      stackRefreshes: true,
    });
    this.#srf = new Srf();
    this.#wire();
    // drachtio-srf's .d.ts types connect() as Promise<void>, but it returns the app and reports
    // through the 'connect' event (see #wire and waitReady()): there is no promise to await.
    void this.#srf.connect({
      host: sip.drachtioHost,
      port: sip.drachtioPort,
      secret: sip.drachtioSecret,
      // Passed through to drachtio-srf's wire protocol (not in its .d.ts).
      reconnect: { retryMaxDelay: sip.reconnectMaxMs },
    } as Srf.SrfConfig);
  }

  /** Starts connecting (does not wait for drachtio-server; see `ready` / waitReady()). */
  static start(opts: StartSipOptions): SipApp {
    return new SipApp(opts);
  }

  /** Connected to drachtio-server and authenticated. */
  get ready(): boolean {
    return this.#ready && this.#closing === undefined;
  }
  /** For /readyz: true, or why not. */
  readiness(): true | string {
    return this.ready ? true : 'not connected to drachtio-server';
  }
  get counters(): Readonly<SipCounters> {
    return this.registry.counters;
  }

  /** Resolves once connected (or rejects after timeoutMs). */
  waitReady(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#srf.off('connect', onConnect);
        reject(new Error(`drachtio-server not connected after ${timeoutMs} ms`));
      }, timeoutMs);
      const onConnect = (err: Error | null): void => {
        if (err) return;
        clearTimeout(timer);
        this.#srf.off('connect', onConnect);
        resolve();
      };
      this.#srf.on('connect', onConnect);
    });
  }

  #wire(): void {
    const srf = this.#srf;
    srf.on('connect', (err: Error | null, hostport: string) => {
      if (err) {
        this.#ready = false;
        this.#log.error({ event: 'drachtio_auth_failed', err }, 'drachtio-server refused the connection (check sip.drachtioSecret)');
        return;
      }
      this.#ready = true;
      this.#log.info({ event: 'drachtio_connected', hostport }, 'connected to drachtio-server');
    });
    // An 'error' without a listener would throw; drachtio-srf reconnects after it.
    srf.on('error', (err: Error) => {
      this.#ready = false;
      this.#log.warn({ event: 'drachtio_error', err: err.message }, 'drachtio-server connection error');
    });
    (srf as unknown as NodeJS.EventEmitter).on('reconnecting', (r: { delay: number; attempt: number }) => {
      this.#ready = false;
      this.#log.info({ event: 'drachtio_reconnecting', delayMs: r.delay, attempt: r.attempt }, 'reconnecting to drachtio-server');
    });
    (srf as unknown as NodeJS.EventEmitter).on('close', () => {
      if (this.#ready) this.#log.warn({ event: 'drachtio_disconnected' }, 'lost connection to drachtio-server');
      this.#ready = false;
    });

    const app = srf as unknown as {
      options(h: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void): void;
      invite(h: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void): void;
    };
    app.options((req, res) => {
      if (!this.#acl.allows(req.source_address)) return res.send(403);
      res.send(200, { headers: { Allow: ALLOW, Supported: SUPPORTED, Accept: ACCEPT } });
    });
    app.invite((req, res) => {
      this.#onInvite(req, res).catch((err: unknown) => {
        this.#log.error({ event: 'sip_internal_error', err }, 'INVITE handler failed');
        if (!res.finalResponseSent) res.send(500);
      });
    });
  }

  async #onInvite(req: Srf.SrfRequest, res: Srf.SrfResponse): Promise<void> {
    const r = requestView(req);
    if (!this.#acl.allows(r.sourceAddress)) {
      this.registry.refused('rejected_forbidden', r.callId, `source ${r.sourceAddress} not in sip.allowedNetworks`);
      return res.send(403);
    }
    if (this.#auth) {
      const auth = this.#auth.verify(r.method, r.header('authorization'));
      if (!auth.ok) {
        this.registry.refused('rejected_unauthorized', r.callId, auth.why);
        return res.send(401, { headers: { 'WWW-Authenticate': auth.challenge } });
      }
    }
    let canceled = false;
    req.on('cancel', () => {
      canceled = true;
      this.registry.cancel(r.callId);
    });
    const out = await this.registry.invite(r);
    if (out.status !== 200 || out.call === undefined) {
      if (!canceled && !res.finalResponseSent) send(res, out);
      return;
    }
    if (canceled) {
      // CANCEL raced the last allocation: drachtio-server already answered 487.
      this.registry.bye(r.callId, 'released');
      return;
    }
    try {
      await createUas(this.#srf, req, res, {
        localSdp: out.sdp!,
        headers: { ...out.headers, 'Content-Type': 'application/sdp', Allow: ALLOW, Supported: SUPPORTED },
      }, (dialog) => this.#track(r.callId, dialog));
    } catch (err) {
      this.#log.warn({ event: 'sip_uas_failed', callId: r.callId, err }, 'could not confirm the dialog: releasing the call');
      this.registry.bye(r.callId, 'error');
    }
  }

  /** Runs synchronously when the dialog exists (see createUas): BYE, re-INVITE, UPDATE. */
  #track(callId: string, dialog: Srf.Dialog): void {
    const state: DialogState = { dialog };
    this.#dialogs.set(callId, state);
    dialog.on('destroy', () => {
      this.#forget(callId);
      this.registry.bye(callId, 'bye');
    });
    const onModify = (mreq: Srf.SrfRequest, mres: Srf.SrfResponse): void => {
      this.registry
        .modify(requestView(mreq))
        .then((plan) => {
          // A 2xx to a re-INVITE must carry Contact (RFC 3261 12.2.2, target refresh).
          const contact = (dialog as unknown as { local?: { contact?: unknown } }).local?.contact;
          send(mres, plan, plan.status === 200 && typeof contact === 'string' ? { Contact: contact } : {});
        })
        .catch((err: unknown) => {
          this.#log.error({ event: 'sip_internal_error', callId, err }, 're-offer handler failed');
          mres.send(500);
        });
    };
    dialog.on('modify', onModify);
    dialog.on('update', onModify);
  }

  #forget(callId: string): void {
    this.#dialogs.delete(callId);
  }

  /** Sends BYE for a dialog we end ourselves. */
  #hangUp(callId: string, reason: string): void {
    const state = this.#dialogs.get(callId);
    if (state === undefined) return;
    this.#forget(callId);
    state.dialog.destroy({ headers: { Reason: reason } }, (err: unknown) => {
      if (err) this.#log.warn({ event: 'sip_bye_failed', callId, err }, 'BYE failed');
    });
  }

  /**
   * drachtio-srf's disconnect() does not cancel a reconnect already scheduled (and throws
   * when no socket is up), so a closed app could connect again and take calls. Reach into
   * its wire protocol (srf.app.client.wp in lib/proto.js, lib/drachtio-agent.js, lib/wire-protocol.js:
   * closing, reconnectVars.retryTimer) to stop it.
   */
  #stopReconnecting(): void {
    const wp = (this.#srf as unknown as { app?: { client?: { wp?: { closing?: boolean;
      reconnectVars?: { retryTimer?: NodeJS.Timeout | null } } } } }).app?.client?.wp;
    if (wp === undefined) return;
    wp.closing = true;
    if (wp.reconnectVars?.retryTimer) {
      clearTimeout(wp.reconnectVars.retryTimer);
      wp.reconnectVars.retryTimer = null;
    }
  }

  /** BYE to every call, release every port, disconnect. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const callId of [...this.#dialogs.keys()]) this.#hangUp(callId, 'SIP;cause=503;text="Recorder shutting down"');
      this.registry.close();
      // Let the BYEs reach drachtio-server before the socket closes.
      await new Promise((r) => setTimeout(r, 100));
      this.#stopReconnecting();
      try {
        this.#srf.disconnect();
      } catch {
        // not connected right now: nothing to end
      }
    })();
    return this.#closing;
  }
}

/**
 * What the server calls when sip.enabled: starts connecting to drachtio-server and returns
 * at once (readiness follows the connection). Rejects with ConfigError on a bad sip.* value.
 */
export async function startSip(opts: StartSipOptions): Promise<SipApp> {
  return SipApp.start(opts);
}
