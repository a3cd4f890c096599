// The REST calls the agent makes (azure-pipelines-agent.md §2-§4, §8), against the organization URL.

export class AgentServer {
  /** `authorize(signal)` resolves to the Authorization header to send. */
  constructor(http, serverUrl, authorize) {
    this.http = http;
    this.base = `${serverUrl.replace(/\/+$/, "")}/_apis`;
    this.authorize = authorize;
  }

  async call(method, path, { body, signal } = {}) {
    const authorization = await this.authorize(signal);
    return this.http.json(method, `${this.base}/${path}`, { authorization, body, signal });
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
