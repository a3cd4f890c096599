// The REST calls the agent makes (azure-pipelines-agent.md §2-§4, §8), against the organization URL.

export class AgentServer {
  /**
   * `authorize(signal, challenged)` resolves to the Authorization header to send, or to undefined
   * for a request that goes out without one until the server challenges it.
   */
  constructor(http, serverUrl, authorize) {
    this.http = http;
    this.base = `${serverUrl.replace(/\/+$/, "")}/_apis`;
    this.authorize = authorize;
  }

  /**
   * As the VSS client does (agent-registration.md §4.2): a credential without a token sends the
   * request bare; a 401 whose WWW-Authenticate names Bearer makes it get one and send it again.
   */
  async call(method, path, { body, signal } = {}) {
    const url = `${this.base}/${path}`;
    const authorization = await this.authorize(signal, false);
    try {
      return await this.http.json(method, url, { authorization, body, signal });
    } catch (error) {
      const challenge = String(error.headers?.["www-authenticate"] ?? "");
      if (authorization || error.status !== 401 || !/bearer/i.test(challenge)) throw error;
      return this.http.json(method, url, { authorization: await this.authorize(signal, true), body, signal });
    }
  }

  /** §2 step 3. */
  connectionData() {
    return this.call("GET", "connectionData?connectOptions=0&lastChangeId=0&lastChangeId64=0");
  }

  /** §2 step 6: first pool of that name, or undefined. */
  async findPool(name) {
    const answer = await this.call(
      "GET",
      `distributedtask/pools?poolName=${encodeURIComponent(name)}&poolType=Automation`,
    );
    return answer?.value?.[0];
  }

  /** §2 step 8 / §4 step 2: first agent of that name, or undefined. */
  async findAgent(poolId, name) {
    const answer = await this.call(
      "GET",
      `distributedtask/pools/${poolId}/agents?agentName=${encodeURIComponent(name)}&includeCapabilities=false`,
    );
    return answer?.value?.[0];
  }

  addAgent(poolId, agent) {
    return this.call("POST", `distributedtask/pools/${poolId}/agents`, { body: agent });
  }

  replaceAgent(poolId, agent) {
    return this.call("PUT", `distributedtask/pools/${poolId}/agents/${agent.id}`, { body: agent });
  }

  deleteAgent(poolId, agentId) {
    return this.call("DELETE", `distributedtask/pools/${poolId}/agents/${agentId}`);
  }

  createSession(poolId, session, signal) {
    return this.call("POST", `distributedtask/pools/${poolId}/sessions`, { body: session, signal });
  }

  deleteSession(poolId, sessionId, signal) {
    return this.call("DELETE", `distributedtask/pools/${poolId}/sessions/${sessionId}`, { signal });
  }

  getMessage(poolId, sessionId, lastMessageId, signal) {
    const last = lastMessageId === undefined ? "" : `&lastMessageId=${lastMessageId}`;
    return this.call("GET", `distributedtask/pools/${poolId}/messages?sessionId=${sessionId}${last}`, {
      signal,
    });
  }

  deleteMessage(poolId, sessionId, messageId, signal) {
    return this.call(
      "DELETE",
      `distributedtask/pools/${poolId}/messages/${messageId}?sessionId=${sessionId}`,
      {
        signal,
      },
    );
  }

  /** §3 "Job run": lock renewal (no result) and finish (with result) of the job request. */
  updateJobRequest(poolId, requestId, lockToken, body, signal) {
    return this.call(
      "PATCH",
      `distributedtask/pools/${poolId}/jobrequests/${requestId}?lockToken=${lockToken}`,
      {
        body: { requestId, ...body },
        signal,
      },
    );
  }
}
