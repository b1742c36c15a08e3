import { FhirRouter } from "@medplum/fhir-router";
import type { HttpMethod } from "@medplum/fhir-router";
import { expect } from "chai";
import { SandboxRepository } from "../../sandbox/fhir/repository";
import { createSandboxRouter } from "../../sandbox/fhir/routes";

describe("sandbox/fhir router: finding routes", () => {
  const router = createSandboxRouter(new SandboxRepository(), { defaultCount: 20, maxCount: 1000 });
  const medplum = (method: HttpMethod, url: string) => FhirRouter.prototype.find.call(router, method, url);

  it("reads every query as Medplum's router does, plain or not", () => {
    const urls = [
      "Patient?identifier=urn:x|y",
      "Patient?identifier=urn%3Ax%7Cy&_count=2",
      "Patient?a=1&a=2&b=3&a=4",
      "Patient?x=%zz&y=%E2%82",
      "Patient?x=é%zz&y=%E2%82",
      "Patient?plus=a+b&enc=a%2Bb",
      "Patient?name=Zoë&x=日本",
      "Patient?x=\uD800y",
      "Patient?x=1#frag",
      "Patient?x=1 ",
      " Patient?x=1",
      "Patient?x=a\tb&y=c\nd",
      "Patient?x=a\u0001",
      "Patient/123?x=1",
      "Patient/$everything?x",
      "Patient?",
      "?_type=Patient",
      "Patient?__proto__=1&constructor=2",
      "Patient??x=1",
      "Patient?x=1?y=2",
      "Patient?x='q'&y=<>\"",
      "Patient?x=%00",
      "Patient?=v&k=&&",
      "./Patient?x=1",
      "Patient/../Observation?x=1",
      "a:b?x=1",
      "Patient\\x?y=1",
      "/Patient?x=1",
      "Patient",
      "Patient/1/_history/2",
    ];
    for (const method of ["GET", "PUT", "POST", "DELETE"] as HttpMethod[]) {
      for (const url of urls) {
        expect(router.find(method, url), `${method} ${JSON.stringify(url)}`).to.deep.equal(
          medplum(method, url),
        );
      }
    }
  });

  it("fails where Medplum's router fails", () => {
    for (const url of ["//?x=1", "http://[::1?x=1"]) {
      let theirs: unknown;
      try {
        medplum("GET", url);
      } catch (err) {
        theirs = err;
      }
      expect(theirs, url).to.be.instanceOf(Error);
      expect(() => router.find("GET", url), url).to.throw((theirs as Error).message);
    }
  });
});
